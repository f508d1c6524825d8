"""`train(cfg)`: one experiment, top to bottom, in plain PyTorch.

build data (with simulated missingness/noise) -> build encoders, fusion backbone, head and
remedy -> optional remedy pretraining stage -> epochs of [train steps, validation, collapse
diagnostics, checkpoints, logging] -> best checkpoint on the test split, with each modality
masked in turn -> unimodal baselines -> summary.json.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from mmc.config.schema import MmcConfig
from mmc.config.validate import build, validate_config
from mmc.context import RunContext
from mmc.data.batch import MultimodalDataset, MultimodalTensors
from mmc.data.build import build_dataset
from mmc.diagnostics.evaluate import (
    autocast_ctx,
    collapse_diagnostics,
    labelled_metrics,
    masked_metrics,
    predict,
    strongest_weakest,
)
from mmc.diagnostics.extra import extra_diagnostics
from mmc.diagnostics.metrics import check_monitor, task_loss
from mmc.diagnostics.summary import collapse_numbers, format_summary
from mmc.diagnostics.unimodal import train_unimodal
from mmc.errors import MmcError, check
from mmc.logging.recorder import RunRecorder, flatten
from mmc.models.model import MultimodalModel, make_head
from mmc.remedies.substitution import make_substitution
from mmc.utils.checkpoint import BEST, LAST, load, save_atomic
from mmc.utils.device import autocast_dtype, select_device
from mmc.utils.seed import epoch_generator, rng_state, seed_everything, set_rng_state

log = logging.getLogger("mmc")


# --------------------------------------------------------------------------- building blocks
def build_encoder(cfg: DictConfig, data: MultimodalDataset, modality: str) -> nn.Module:
    per_modality = cfg.dataset.get("encoders") or {}
    node, option = (
        (per_modality[modality], f"dataset.encoders.{modality}")
        if modality in per_modality
        else (cfg.dataset.encoder, "dataset.encoder")
    )
    return build(node, option, spec=data.specs[modality], out_dim=cfg.model.dim)


def build_model(cfg: DictConfig, data: MultimodalDataset) -> MultimodalModel:
    encoders = nn.ModuleDict({m: build_encoder(cfg, data, m) for m in data.modalities})
    backbone = build(
        cfg.backbone,
        "backbone",
        modalities=data.modalities,
        dim=cfg.model.dim,
        num_outputs=data.num_outputs,
    )
    head = make_head(backbone.out_dim, cfg.model.head_hidden, data.num_outputs, cfg.model.dropout)
    remedy = build(cfg.remedy, "remedy")
    return MultimodalModel(encoders, backbone, head, remedy)


def make_optimizer(params, t: DictConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    opt = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return opt(params, lr=t.lr, weight_decay=t.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, t: DictConfig):
    if t.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t.epochs)
    if t.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=t.step_size, gamma=t.gamma)
    return None


def train_epoch(
    model: MultimodalModel,
    split: MultimodalTensors,
    opt: torch.optim.Optimizer,
    cfg: DictConfig,
    task: str,
    epoch: int,
    amp_dtype: torch.dtype | None,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, float]:
    """One pass over the training split; returns the mean of each loss term."""
    model.train()
    # Every row labelled (the usual case): the plain fused cross-entropy, no weighting.
    all_labelled = bool(split.labelled.all())
    # Loss terms are summed per distinct set of names with one stacked add per step.
    sums: dict[tuple[str, ...], torch.Tensor] = {}
    steps = 0
    gen = epoch_generator(cfg.seed, epoch)
    for batch in split.iter_batches(cfg.train.batch_size, shuffle=True, generator=gen):
        with autocast_ctx(device_of(model), amp_dtype):
            out = model(batch)
            losses = {"task": task_loss(out.logits, batch.y, batch.labelled, task, all_labelled)}
            losses.update(out.losses)
            if model.remedy is not None:
                losses.update(model.remedy.losses(out, batch, epoch))
            terms = list(losses.values())
            loss = terms[0] if len(terms) == 1 else torch.stack(terms).sum()
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
        else:
            loss.backward()
        if cfg.train.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        names = (*losses, "total")
        stacked = torch.stack([*terms, loss]).detach().float()
        sums[names] = sums[names] + stacked if names in sums else stacked
        steps += 1
    totals: dict[str, float] = defaultdict(float)
    for names, values in sums.items():
        for name, value in zip(names, values.tolist()):
            totals[name] += value
    means = {f"loss/{k}": v / max(steps, 1) for k, v in totals.items()}
    if not math.isfinite(means.get("loss/total", 0.0)):
        raise MmcError(
            f"training diverged: the loss became {means['loss/total']} in epoch {epoch}; "
            f"lower train.lr (now {cfg.train.lr}) or set train.grad_clip"
        )
    return means


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------- run directory
def _choices(cfg: DictConfig) -> dict[str, str]:
    """Group option names (synthetic, concat, ...) for names, tags and reports."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        ch = HydraConfig.get().runtime.choices
        return {g: str(ch.get(g)) for g in ("dataset", "backbone", "remedy", "logger")}
    # Composed without @hydra.main (tests, the compose API): the option file with this target.
    return {
        "dataset": str(cfg.dataset.get("name", "dataset")),
        **{g: _option_of(g, str(cfg[g]._target_)) for g in ("backbone", "remedy", "logger")},
    }


def _option_of(group: str, target: str) -> str:
    """conf/<group>/<option>.yaml whose `_target_` is `target`; the class name otherwise."""
    from importlib.resources import files

    for path in sorted(files("mmc.conf").joinpath(group).iterdir(), key=lambda p: p.name):
        if path.name.endswith(".yaml") and f"_target_: {target}\n" in path.read_text():
            return path.name.removesuffix(".yaml")
    return target.rsplit(".", 1)[-1]


def _run_dir(cfg: DictConfig) -> Path:
    from hydra.core.hydra_config import HydraConfig

    if cfg.run_dir:
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("outputs/runs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S.%f")


def _resumed_config(cfg: DictConfig) -> DictConfig:
    run_dir = Path(cfg.resume)
    check(run_dir.is_dir(), f"resume={cfg.resume}: no such run directory")
    saved = run_dir / "config.yaml"
    check(
        saved.exists(),
        f"resume={cfg.resume}: no config.yaml there; point resume at a run directory",
    )
    check(
        (run_dir / LAST).exists(),
        f"resume={cfg.resume}: no checkpoint yet (the run stopped before its first epoch ended); "
        "start it again without resume",
    )
    resumed = OmegaConf.merge(OmegaConf.structured(MmcConfig), OmegaConf.load(saved))
    resumed.resume, resumed.run_dir = str(run_dir), str(run_dir)
    return resumed


# --------------------------------------------------------------------------- the experiment
def train(cfg: DictConfig) -> dict:
    """Run one experiment and return its summary (also written to summary.json)."""
    started = time.perf_counter()
    if cfg.resume:
        cfg = _resumed_config(cfg)
    validate_config(cfg)
    if cfg.dataset.get("task") == "retrieval":  # image–text retrieval: its own runner
        from mmc.retrieval.run import train_retrieval

        return train_retrieval(cfg)
    run_dir = _run_dir(cfg)
    recorder = RunRecorder(run_dir)
    if cfg.resume and recorder.summary_path.exists():
        log.info("run %s is already complete; nothing to resume", run_dir)
        return OmegaConf.to_container(OmegaConf.load(recorder.summary_path))
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
    choices = _choices(cfg)
    recorder.write_config(cfg)

    logger = build(cfg.logger, "logger")
    ctx = RunContext(cfg, device, run_dir, log=lambda d: None, logger=log)
    exit_code = 1
    try:
        model.remedy.setup(model, data, ctx)
        model.to(device)
        opt = make_optimizer(model.parameters(), cfg.train)
        sched = make_scheduler(opt, cfg.train)
        scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
        start_epoch, best = 0, {"score": -math.inf, "epoch": -1, "val": {}}
        best_state: dict[str, torch.Tensor] = {}
        diag_seconds, last_saved = 0.0, -math.inf
        if cfg.resume:
            ckpt = load(run_dir / LAST, device)
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            if sched is not None:
                sched.load_state_dict(ckpt["scheduler"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            set_rng_state(ckpt["rng"])
            start_epoch, best, diag_seconds = ckpt["epoch"] + 1, ckpt["best"], ckpt["diag_seconds"]
            best_state = ckpt["best_model"]
            recorder.truncate_after(ckpt["epoch"])
            log.info("resuming %s from epoch %d", run_dir, start_epoch)

        name = (
            cfg.name
            or f"{choices['dataset']}-{choices['backbone']}-{choices['remedy']}-s{cfg.seed}"
        )
        tags = [*cfg.tags, *(f"{g}:{c}" for g, c in choices.items() if g != "logger")]
        logger.start(
            OmegaConf.to_container(cfg, resolve=True), run_dir, name, tags, choices=choices
        )
        ctx.log = lambda d: logger.log(d, d.get("epoch", 0))
        if not cfg.resume:
            model.remedy.pretrain(model, data, ctx)

        epochs, every = cfg.train.epochs, cfg.diagnostics.every
        probe = torch.arange(min(cfg.diagnostics.probe_size, len(data.val)), device=device)
        bar = tqdm(
            range(start_epoch, epochs), initial=start_epoch, total=epochs, desc="train",
            unit="epoch", disable=None if cfg.progress else True, dynamic_ncols=True,
        )  # fmt: skip
        for epoch in bar:
            epoch_start = time.perf_counter()
            record: dict = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
            record.update(
                train_epoch(model, data.train, opt, cfg, data.task, epoch, amp_dtype, scaler)
            )
            record["time/train_s"] = time.perf_counter() - epoch_start
            if sched is not None:
                sched.step()
            val_pred = predict(model, data.val, cfg.train.eval_batch_size, amp_dtype)
            val = labelled_metrics(val_pred.logits, data.val, data.task)
            record.update({f"val/{k}": v for k, v in val.items()})
            if (every and (epoch + 1) % every == 0) or epoch == epochs - 1:
                t0 = time.perf_counter()
                probe_pred = val_pred.subset(probe)
                record.update(
                    collapse_diagnostics(
                        model, probe_pred, data.task, monitor, cfg.diagnostics.rank_rtol
                    )
                )
                record["time/diagnostics_s"] = time.perf_counter() - t0
                diag_seconds += record["time/diagnostics_s"]
            model.remedy.on_epoch_end(epoch, record)

            score = val[monitor] if not math.isnan(val[monitor]) else -math.inf
            # ">=": among equally good epochs keep the latest (collapse deepens with training).
            if score >= best["score"] or best["epoch"] < 0:
                best = {"score": score, "epoch": epoch, "val": val}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            # Checkpoints cost milliseconds an epoch: write them at most every
            # train.checkpoint_every_s seconds, after the first epoch and after the last.
            now = time.perf_counter()
            if (
                epoch in (start_epoch, epochs - 1)
                or now - last_saved >= cfg.train.checkpoint_every_s
            ):
                save_atomic(
                    {"model": best_state, "epoch": best["epoch"], "val": val}, run_dir / BEST
                )
                save_atomic(
                    {
                        "model": model.state_dict(),
                        "best_model": best_state,
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict() if sched is not None else None,
                        "scaler": scaler.state_dict() if scaler is not None else None,
                        "rng": rng_state(),
                        "epoch": epoch,
                        "best": best,
                        "diag_seconds": diag_seconds,
                    },
                    run_dir / LAST,
                )
                last_saved = now
            record["time/epoch_s"] = time.perf_counter() - epoch_start
            recorder.log(record)
            logger.log(record, epoch)
            bar.set_postfix(
                loss=f"{record['loss/total']:.3f}",
                **{monitor: f"{val[monitor]:.3f}"},
                rank=f"{record.get('rank/fused/effective', math.nan):.1f}",
            )
        bar.close()

        # ---- test: the best-validation checkpoint, all modalities and each one masked
        model.load_state_dict(best_state)
        if substitution is not None:
            substitution.fit(model, data, device)
            model.substitution = substitution
        test_pred = predict(model, data.test, cfg.train.eval_batch_size, amp_dtype)
        test = labelled_metrics(test_pred.logits, data.test, data.task)
        test_masked = {m: masked_metrics(model, test_pred, data.task, m) for m in data.modalities}
        final_diag = collapse_diagnostics(
            model, test_pred, data.task, monitor, cfg.diagnostics.rank_rtol
        )
        unimodal = {}
        if cfg.diagnostics.unimodal:
            unimodal = {m: train_unimodal(cfg, data, m, monitor, device) for m in data.modalities}
        extra = extra_diagnostics(cfg, model, data, test_pred, monitor, unimodal, device)

        history = recorder.read_metrics()
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
            "best_epoch": best["epoch"],
            "epochs": epochs,
            "val": best["val"],
            "test": test,
            "test_masked": test_masked,
            "contribution": {m: final_diag[f"contribution/{m}"] for m in data.modalities},
            "rank": _nested(final_diag, "rank/"),
            "unimodal": unimodal,
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
            "run_dir": str(run_dir),
        }
        recorder.write_summary(summary)
        logger.summary(flatten(summary))
        logger.log_table(
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
        exit_code = 0
        return summary
    finally:
        logger.finish(exit_code)


def _nested(flat: dict[str, float], prefix: str) -> dict[str, dict[str, float]]:
    """{"rank/m0/effective": 3.1} -> {"m0": {"effective": 3.1}}."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in flat.items():
        if key.startswith(prefix):
            who, kind = key[len(prefix) :].split("/")
            out[who][kind] = value
    return dict(out)
