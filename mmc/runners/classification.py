"""The fusion experiment, top to bottom, in plain PyTorch.

build data (with simulated missingness/noise) -> build encoders, fusion backbone, head and
remedy -> optional remedy pretraining stage -> epochs of [train steps, validation, collapse
diagnostics, checkpoints, logging] -> best checkpoint on the test split, with each modality
masked in turn -> unimodal references (trained once, shared with KD and the diagnostics)
-> summary.json.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict

import torch
from omegaconf import DictConfig
from tqdm import tqdm

from mmc.context import RunContext
from mmc.data.build import build_dataset
from mmc.diagnostics.evaluate import (
    collapse_diagnostics,
    eval_mode,
    labelled_metrics,
    masked_metrics,
    predict,
    strongest_weakest,
)
from mmc.diagnostics.extra import extra_diagnostics
from mmc.diagnostics.metrics import check_monitor
from mmc.diagnostics.summary import collapse_numbers, format_summary
from mmc.engine.loop import Best, fit, train_epoch
from mmc.engine.model import build_model
from mmc.engine.optim import make_optimizer, make_scheduler
from mmc.engine.unimodal import UnimodalReferences
from mmc.logging.progress import EpochLog, phase, to_log_files
from mmc.remedies.substitution import make_substitution
from mmc.runners.lifecycle import Run
from mmc.utils.device import autocast_dtype, select_device
from mmc.utils.seed import rng_state, seed_everything

log = logging.getLogger("mmc")


def train_classification(cfg: DictConfig, started: float) -> dict:
    """Run one fusion experiment and return its summary (also written to summary.json)."""
    run = Run(cfg)
    done = run.completed_summary()
    if done is not None:
        return done
    device = select_device(cfg.device)
    amp_dtype = autocast_dtype(cfg.train.precision, device)
    if cfg.train.precision != "32" and amp_dtype is None:
        log.warning(
            "train.precision=%s applies on CUDA only; training in fp32 on %s",
            cfg.train.precision,
            device,
        )
    seed_everything(cfg.seed, device)

    data = build_dataset(cfg)
    for name, split in data.splits().items():
        setattr(data, name, split.to(device))
    monitor = check_monitor(cfg.train.monitor, data.task)
    model = build_model(cfg, data)
    substitution = make_substitution(cfg.substitution, model)
    choices = run.choices
    run.write_config()

    with run.active():
        references = UnimodalReferences(cfg, data, device, monitor)
        ctx = RunContext(
            cfg, device, run.dir, log=lambda d: None, logger=log, references=references
        )
        model.remedy.setup(model, data, ctx)
        model.to(device)
        opt = make_optimizer(model.parameters(), cfg)
        sched = make_scheduler(opt, cfg)
        scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
        start_epoch, best = 0, Best()
        diag_seconds, last_saved = 0.0, -math.inf
        if run.resuming:
            ckpt = run.restore(device, model, opt, sched)
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            start_epoch, diag_seconds = ckpt["epoch"] + 1, ckpt["diag_seconds"]
            best = Best(**ckpt["best"], state=ckpt["best_model"])

        run.start_logger(
            *run.name_and_tags([choices["dataset"], choices["backbone"], choices["remedy"]])
        )
        ctx.log = lambda d: run.logger.log(d, d.get("epoch", 0))
        if not run.resuming:
            if choices["remedy"] != "none":
                phase("remedy pretraining (%s)", choices["remedy"])
            model.remedy.pretrain(model, data, ctx)

        epochs, every = cfg.train.epochs, cfg.diagnostics.every
        probe = torch.arange(min(cfg.diagnostics.probe_size, len(data.val)), device=device)
        # The probe's rows are the same every epoch: take them from the split once. When the
        # probe is the whole validation split (the default) its predictions and all-modality
        # metrics are validation's own, not a copy.
        whole_val = len(probe) == len(data.val)
        probe_split = None if whole_val else data.val.subset(probe)
        bar = tqdm(
            range(start_epoch, epochs), initial=start_epoch, total=epochs, desc="train",
            unit="epoch", disable=None if cfg.progress else True, dynamic_ncols=True,
        )  # fmt: skip

        epoch_start, last_val = 0.0, {}
        epoch_log = EpochLog(start_epoch, epochs, monitor)  # when no terminal shows the bar

        def run_epoch(epoch: int) -> tuple[dict, dict, float]:
            nonlocal diag_seconds, epoch_start, last_val
            epoch_start = time.perf_counter()
            record: dict = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
            record.update(
                train_epoch(model, data.train, opt, cfg, data.task, epoch, amp_dtype, scaler)
            )
            record["time/train_s"] = time.perf_counter() - epoch_start
            if sched is not None:
                sched.step()
            with eval_mode(model):  # one train/eval switch for validation and diagnostics
                val_pred = predict(model, data.val, cfg.train.eval_batch_size, amp_dtype)
                val = labelled_metrics(val_pred.logits, data.val, data.task)
                record.update({f"val/{k}": v for k, v in val.items()})
                if (every and (epoch + 1) % every == 0) or epoch == epochs - 1:
                    t0 = time.perf_counter()
                    if whole_val:
                        probe_pred, probe_full = val_pred, val
                    else:
                        probe_pred, probe_full = val_pred.subset(probe, probe_split), None
                    record.update(
                        collapse_diagnostics(
                            model,
                            probe_pred,
                            data.task,
                            monitor,
                            cfg.diagnostics.rank_rtol,
                            full=probe_full,
                        )
                    )
                    record["time/diagnostics_s"] = time.perf_counter() - t0
                    diag_seconds += record["time/diagnostics_s"]
            model.remedy.on_epoch_end(epoch, record)
            last_val = val
            return record, val, val[monitor]

        def after_epoch(epoch: int, record: dict, best: Best) -> None:
            nonlocal last_saved
            # Checkpoints cost milliseconds an epoch: write them at most every
            # train.checkpoint_every_s seconds, after the first epoch and after the last.
            now = time.perf_counter()
            if (
                epoch in (start_epoch, epochs - 1)
                or now - last_saved >= cfg.train.checkpoint_every_s
            ):
                run.save_best({"model": best.state, "epoch": best.epoch, "val": last_val})
                run.save_last(
                    {
                        "model": model.state_dict(),
                        "best_model": best.state,
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict() if sched is not None else None,
                        "scaler": scaler.state_dict() if scaler is not None else None,
                        "rng": rng_state(),
                        "epoch": epoch,
                        "best": best.summary(),
                        "diag_seconds": diag_seconds,
                    }
                )
                last_saved = now
            record["time/epoch_s"] = time.perf_counter() - epoch_start
            run.log(record, epoch)
            epoch_log(epoch, record)
            bar.set_postfix(
                loss=f"{record['loss/total']:.3f}",
                **{monitor: f"{record[f'val/{monitor}']:.3f}"},
                rank=f"{record.get('rank/fused/effective', math.nan):.1f}",
            )

        # ">=" (later_ties): among equally good epochs keep the latest (collapse deepens).
        best = fit(model, bar, run_epoch, best=best, after_epoch=after_epoch)
        bar.close()

        # ---- test: the best-validation checkpoint, all modalities and each one masked
        model.load_state_dict(best.state)
        if substitution is not None:
            substitution.fit(model, data, device)
            model.substitution = substitution
        test_pred = predict(model, data.test, cfg.train.eval_batch_size, amp_dtype)
        test = labelled_metrics(test_pred.logits, data.test, data.task)
        test_masked = {m: masked_metrics(model, test_pred, data.task, m) for m in data.modalities}
        final_diag = collapse_diagnostics(
            model, test_pred, data.task, monitor, cfg.diagnostics.rank_rtol
        )
        phase("test: best epoch %d, each modality masked in turn", best.epoch)
        unimodal = {}
        if cfg.diagnostics.unimodal:
            phase("unimodal baselines (%s)", ", ".join(data.modalities))
            unimodal = {m: references.test_metrics(m) for m in data.modalities}
        extra = extra_diagnostics(cfg, model, data, test_pred, monitor, unimodal, references)

        history = run.recorder.read_metrics()
        total = time.perf_counter() - started
        summary = {
            "status": "completed",
            "choices": choices,
            "seed": cfg.seed,
            "monitor": monitor,
            "task": data.task,
            "modalities": data.modalities,
            "missing_rate": cfg.data.missing_rate,
            "test_missing_rate": cfg.data.test_missing_rate
            if cfg.data.test_missing_rate is not None
            else cfg.data.missing_rate,
            "noise_rate": cfg.data.noise_rate,
            "best_epoch": best.epoch,
            "epochs": epochs,
            "val": best.val,
            "test": test,
            "test_masked": test_masked,
            "contribution": {m: final_diag[f"contribution/{m}"] for m in data.modalities},
            "rank": _nested(final_diag, "rank/"),
            "unimodal": unimodal,
            "unimodal_training": references.report(),
            "extra": extra,
            "collapse": collapse_numbers(unimodal, test_masked, test, monitor, data.info),
            # Which modality the model relied on most/least at the last diagnostics epoch (the
            # names of the val_masked/* curves that bound the collapse gap).
            "val_masked": strongest_weakest(
                next((r for r in reversed(history) if "val_probe/" + monitor in r), {}),
                data.modalities,
            ),
            "data": dict(data.info),
            "timing": {
                "total_s": total,
                "diagnostics_s": diag_seconds,
                "epochs_logged": len(history),
            },
            "run_dir": str(run.dir),
        }
        run.write_summary(summary)
        run.logger.log_table(
            "contributions",
            ["modality", "contribution", f"test_{monitor}_masked", f"unimodal_{monitor}"],
            [
                [
                    m,
                    summary["contribution"][m],
                    test_masked[m][monitor],
                    unimodal.get(m, {}).get(monitor),
                ]
                for m in data.modalities
            ],
        )
        print(format_summary(summary))
        to_log_files(format_summary(summary))
        return summary


def _nested(flat: dict[str, float], prefix: str) -> dict[str, dict[str, float]]:
    """{"rank/m0/effective": 3.1} -> {"m0": {"effective": 3.1}}."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in flat.items():
        if key.startswith(prefix):
            who, kind = key[len(prefix) :].split("/")
            out[who][kind] = value
    return dict(out)
