"""`train_retrieval(cfg)`: the retrieval runner (mmc.train.RUNNERS["retrieval"]).

real training pairs -> (coreset | RepBlend/LoRS distillation | all of them) -> a fresh dual
encoder trained on that set, validated every epoch (IR/TR@k on the val split picks the best
checkpoint) -> the best checkpoint on the test split -> collapse metrics -> summary.json.
The run directory holds the same files as classification runs: config.yaml, metrics.jsonl,
summary.json, checkpoints/, plus distill.jsonl (the distillation curve) and distilled.pt.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from mmc.config.build import build
from mmc.engine.loop import Best, check_finite, fit
from mmc.engine.optim import make_optimizer, make_scheduler
from mmc.errors import check, choices_error
from mmc.logging.progress import EpochLog, phase
from mmc.report.plots import similarity_heatmap
from mmc.retrieval import coreset as coresets
from mmc.retrieval.collapse import collapse_metrics, relative_update
from mmc.retrieval.distill import STEP_SIZE_FLOOR, DistilledSet, Distiller
from mmc.retrieval.features import load_image
from mmc.retrieval.full_encoder import full_encoder_setup, uses_full_encoder
from mmc.retrieval.karpathy import load_split
from mmc.retrieval.metrics import retrieval_metrics
from mmc.retrieval.model import DualEncoder, contrastive_loss, soft_bce_loss
from mmc.retrieval.pairs import PairSplit, RetrievalData, validate_pairs
from mmc.retrieval.reference import fixed_collapse, fixed_probe, reference_model
from mmc.retrieval.remedy import RepBlend
from mmc.retrieval.trajectories import expert_bank
from mmc.runners.lifecycle import Run
from mmc.utils.checkpoint import BEST, load, load_record, save_atomic
from mmc.utils.device import select_device
from mmc.utils.seed import epoch_generator, rng_state, seed_everything

log = logging.getLogger("mmc")
# The training set a distillation produced, as training uses it: `resume=` reloads it.
DISTILLED_SET = "checkpoints/distilled_set.pt"


# --------------------------------------------------------------------------- pieces
def build_data(cfg: DictConfig) -> RetrievalData:
    name = cfg.dataset.get("name", "dataset")
    data = build(cfg.dataset.source, "dataset.source")
    check(isinstance(data, RetrievalData), f"dataset.source of {name} must return a RetrievalData")
    validate_pairs(data, name)
    return data


def make_model_factory(cfg: DictConfig, data: RetrievalData):
    def make() -> DualEncoder:
        return build(cfg.dataset.model, "dataset.model", img_dim=data.img_dim, txt_dim=data.txt_dim)

    return make


@torch.no_grad()
def embed(model: DualEncoder, split: PairSplit, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    img = torch.cat(
        [model.encode_image(split.img[i : i + batch]) for i in range(0, split.num_images, batch)]
    )
    txt = torch.cat(
        [model.encode_text(split.txt[i : i + batch]) for i in range(0, len(split), batch)]
    )
    return img, txt


def evaluate(model: DualEncoder, split: PairSplit, batch: int) -> dict[str, float]:
    img, txt = embed(model, split, batch)
    return retrieval_metrics(img, txt, split.txt2img)


def train_epoch(
    model: DualEncoder,
    pairs: PairSplit,
    similarity: torch.Tensor | None,
    opt: torch.optim.Optimizer,
    cfg: DictConfig,
    epoch: int,
) -> float:
    """One pass over the training pairs; soft BCE against `similarity` when there is one."""
    model.train()
    gen = epoch_generator(cfg.seed, epoch)
    order = torch.randperm(len(pairs), generator=gen).to(pairs.txt.device)
    total, steps = 0.0, 0
    for start in range(0, len(order), cfg.train.batch_size):
        j = order[start : start + cfg.train.batch_size]
        if len(j) < 2:
            continue  # a contrastive batch of one pair has no negatives
        logits = model(pairs.img[pairs.txt2img[j]], pairs.txt[j])
        loss = (
            contrastive_loss(logits)
            if similarity is None
            else soft_bce_loss(logits, similarity[j][:, j])
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()
        total += float(loss.detach())
        steps += 1
    mean = total / max(steps, 1)
    check_finite(mean, epoch, cfg.train.lr)
    return mean


def _read_rgb(path: Path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


# --------------------------------------------------------------------------- training sets
def pick_captions(cfg: DictConfig, data: RetrievalData, method: str, n: int) -> torch.Tensor:
    """Indices of `n` real training captions, at most one per image, chosen by a coreset method."""
    gen = torch.Generator().manual_seed(int(cfg.seed))
    cand = data.train.one_caption_per_image(gen).to(data.train.txt.device)
    img, txt = data.train.img[data.train.txt2img[cand]], data.train.txt[cand]
    return cand[coresets.select(method, img, txt, n, gen).to(img.device)]


def select_pairs(cfg: DictConfig, data: RetrievalData, method: str, n: int) -> PairSplit:
    """`n` real pairs, at most one caption per image, chosen by a coreset method."""
    cap = pick_captions(cfg, data, method, n)
    img, txt = data.train.img[data.train.txt2img[cap]], data.train.txt[cap]
    return PairSplit(img, txt, torch.arange(len(cap), device=img.device))


def check_pixel_source(cfg: DictConfig) -> None:
    """remedy.space=pixel needs a data set whose source loads images (a Karpathy folder)."""
    src = cfg.dataset.source
    check(
        "image_encoder" in src and "root" in src and "name" in src,
        f"remedy.space=pixel needs a data set with images (a Karpathy-format dataset: "
        f"dataset=flickr30k|mscoco with dataset.root); dataset={cfg.dataset.get('name')} "
        "has only features",
    )


def pixel_model(cfg: DictConfig, make_model, device) -> DualEncoder:
    """The dual encoder with dataset.source.image_encoder, frozen, in front of the image head."""
    model = make_model()
    model.image_encoder = build(cfg.dataset.source.image_encoder, "dataset.source.image_encoder")
    model.image_encoder.requires_grad_(False).eval()
    return model.to(device)


@torch.no_grad()
def encode_pixels(encoder: torch.nn.Module, pixels: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([encoder(pixels[i : i + batch]) for i in range(0, len(pixels), batch)])


def load_pixels(cfg: DictConfig, image_ids: torch.Tensor, size: int) -> torch.Tensor:
    """The training images `image_ids` (in the feature cache's order), as the encoder sees them."""
    src = cfg.dataset.source
    root = Path(str(src.root)).expanduser()
    paths = load_split(root, src.name, "train", src.get("max_words", 30)).images
    return torch.from_numpy(
        np.stack([load_image(root / paths[i], size) for i in image_ids.tolist()])
    )


def distill(cfg, data, remedy: RepBlend, make_model, device, logger, run_dir: Path) -> DistilledSet:
    cap = pick_captions(cfg, data, remedy.init, cfg.data.num_pairs)
    check(
        len(cap) >= 2, f"data.num_pairs={cfg.data.num_pairs}: distillation needs at least 2 pairs"
    )
    bank = expert_bank(
        make_model, data.train, remedy.expert_settings, remedy.expert_dir, device,
        seed=0,  # one expert bank for all run seeds: the seed varies the distillation only
        model_key=OmegaConf.to_container(cfg.dataset.model, resolve=True),
    )  # fmt: skip
    log.info("experts: %d in %s", len(bank), bank.directory)
    gen = torch.Generator().manual_seed(int(cfg.seed) + 1)
    model, init_img = make_model().to(device), data.train.img[data.train.txt2img[cap]]
    if remedy.space == "pixel" and not uses_full_encoder(remedy):
        # The experts train the heads on cached features, which is what training them on
        # pixels through the frozen encoder does; the synthetic images are pixels.
        model = pixel_model(cfg, make_model, device)
        size = int(getattr(model.image_encoder, "image_size", 224))
        init_img = load_pixels(cfg, data.train.txt2img[cap].cpu(), size).to(device)
    distiller = Distiller(model, init_img, data.train.txt[cap], remedy.settings, gen)
    path = run_dir / "distill.jsonl"
    path.unlink(missing_ok=True)

    iterations = remedy.settings.iterations
    phase("distillation: %d pairs, %d iterations", len(cap), iterations)

    def log_curve(record: dict, it: int) -> None:
        # The x axis of distill/* curves is the distillation iteration.
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        logger.log(record, it)
        phase("distillation iteration %d/%d: loss %.4f", it + 1, iterations,
              record["distill/loss"])  # fmt: skip

    probe = None
    if remedy.collapse_every > 0:
        pixels = remedy.space == "pixel" and not uses_full_encoder(remedy)
        probe = collapse_probe(cfg, data, make_model, device, logger, iterations,
                               model.image_encoder if pixels else None)  # fmt: skip
    result = distiller.run(bank, log_curve, probe, remedy.collapse_every)
    if result.collapse_curve:
        (run_dir / "collapse_curve.json").write_text(json.dumps(result.collapse_curve, indent=1))
    warn_step_size_floor(result, remedy.settings.lr_lr, iterations)
    save_atomic(
        {"img": result.img.cpu(), "txt": result.txt.cpu(), "similarity": None if result.similarity is None else result.similarity.cpu(),
         "step_sizes": result.step_sizes},
        run_dir / "distilled.pt",
    )  # fmt: skip
    if remedy.space == "pixel" and not uses_full_encoder(remedy):
        # Train and evaluate on what the frozen encoder makes of them.
        batch = cfg.train.eval_batch_size
        result = replace(
            result,
            img=encode_pixels(model.image_encoder, result.img, batch),
            init_img=encode_pixels(model.image_encoder, result.init_img, batch),
        )
    return result


def _fork_rng(device: torch.device):
    """The global RNG state restored on exit (the reference model seeds it when it trains)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.random.fork_rng(devices=[index])
    return torch.random.fork_rng(devices=[])


def collapse_probe(cfg, data: RetrievalData, make_model, device, logger, iterations: int,
                   pixel_encoder=None):  # fmt: skip
    """The paper's Figure 2 (left) as distillation goes: the current synthetic set embedded by
    the fixed reference model (the one every run's collapse metrics use, trained or loaded
    here, before distillation), against the same real pairs as fixed_collapse_report, so the
    first point equals the run's fixed/init metrics. `pixel_encoder`: synthetic pixels go
    through the frozen encoder first, as the final set does."""
    with _fork_rng(device):  # the distillation's draws must not depend on the curve
        ref_model, _ = reference_model(
            make_model, data.train, dict(cfg.dataset.get("collapse_reference") or {}), device,
            OmegaConf.to_container(cfg.dataset.model, resolve=True),
        )  # fmt: skip
    _, measure = fixed_probe(ref_model, fixed_real_pairs(data, cfg), cfg.train.eval_batch_size)
    batch = cfg.train.eval_batch_size

    def probe(img: torch.Tensor, txt: torch.Tensor, it: int) -> dict:
        if pixel_encoder is not None:
            img = encode_pixels(pixel_encoder, img, batch)
        m = measure(img, txt)
        logger.log({f"distill/fixed/{k}": v for k, v in m.items()}, it)
        phase("distillation iteration %d/%d: fixed-model intra-modal cosine image %.4f text "
              "%.4f (shift %.2f / %.2f real sd), concentration %.3f / %.3f, gap %.4f",
              it, iterations, m["intra_cos/image"], m["intra_cos/text"], m["shift_sd/image"],
              m["shift_sd/text"], m["concentration/image"], m["concentration/text"],
              m["modality_gap"])  # fmt: skip
        return m

    return probe


# --------------------------------------------------------------------------- the experiment
def train_retrieval(cfg: DictConfig, started: float) -> dict:
    run = Run(cfg)
    done = run.completed_summary()
    if done is not None:
        return done
    device = select_device(cfg.device)
    seed_everything(cfg.seed, device)
    remedy = build(cfg.remedy, "remedy")  # none or repblend (mmc.runners.select checked)
    choices = {g: c for g, c in run.choices.items() if g != "backbone"}
    coreset = cfg.data.get("coreset")
    if coreset is not None and coreset not in coresets.METHODS:
        raise choices_error("data.coreset", coreset, ["null", *coresets.METHODS])
    check(cfg.data.num_pairs >= 2, f"data.num_pairs={cfg.data.num_pairs} must be at least 2")

    if isinstance(remedy, RepBlend):
        remedy.resolve(str(cfg.dataset.get("name", "")), int(cfg.data.num_pairs))
        if remedy.space == "pixel":
            check_pixel_source(cfg)
    data = build_data(cfg)
    for name, split in data.splits().items():
        setattr(data, name, split.to(device))
    make_model = make_model_factory(cfg, data)
    if isinstance(remedy, RepBlend) and uses_full_encoder(remedy):
        # LoRS in pixel space: every split as pixels, the image encoder trains (full_encoder.py).
        data, make_model = full_encoder_setup(cfg, data, make_model, device)
    run.write_config()
    with run.active():
        run.start_logger(
            *run.name_and_tags(
                [
                    choices["dataset"],
                    choices["remedy"],
                    coreset or "full",
                    f"n{cfg.data.num_pairs}",
                ],
                skip=("backbone",),
            )
        )
        logger = run.logger

        distilled: DistilledSet | None = None
        similarity = None
        saved_set = run.dir / DISTILLED_SET
        if isinstance(remedy, RepBlend) and run.resuming and saved_set.exists():
            distilled = DistilledSet(
                **load_record(saved_set, "distilled set", device)
            )  # distilled before the stop
        elif isinstance(remedy, RepBlend):
            distilled = distill(cfg, data, remedy, make_model, device, logger, run.dir)
            save_atomic(vars(distilled), saved_set)
        if distilled is not None:
            pairs = PairSplit(
                distilled.img, distilled.txt, torch.arange(len(distilled.txt), device=device)
            )
            similarity = distilled.similarity
            source = "distilled"
        elif coreset is not None:
            pairs, source = (
                select_pairs(cfg, data, coreset, cfg.data.num_pairs),
                f"coreset:{coreset}",
            )
        else:
            pairs, source = data.train, "full"

        seed_everything(cfg.seed, device)
        model = make_model().to(device)
        init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if distilled is not None and remedy.eval_learned_lr:
            opt = learned_lr_optimizer(model, distilled.step_sizes, cfg)
        else:
            opt = make_optimizer(model.parameters(), cfg)
        sched = make_scheduler(opt, cfg)
        start_epoch, best = 0, Best()
        best_on_test = {"r_mean": -math.inf}  # updated in place by run_epoch
        if run.resuming:
            ckpt = run.restore(device, model, opt, sched)
            start_epoch = ckpt["epoch"] + 1
            best = Best(**ckpt["best"], state=load(run.dir / BEST, device)["model"])
            best_on_test.update(ckpt.get("best_on_test") or {})
        bar = tqdm(
            range(start_epoch, cfg.train.epochs), initial=start_epoch, total=cfg.train.epochs,
            desc="train", unit="epoch", disable=None if cfg.progress else True,
        )  # fmt: skip

        epoch_log = EpochLog(start_epoch, cfg.train.epochs, "r_mean")

        def run_epoch(epoch: int) -> tuple[dict, dict, float]:
            record = {"epoch": epoch, "lr": opt.param_groups[0]["lr"]}
            record["loss/total"] = train_epoch(model, pairs, similarity, opt, cfg, epoch)
            if sched is not None:
                sched.step()
            # dataset.eval_every: evaluate every N epochs (and the first and last); the
            # reference code evaluates every 10-20 epochs. 1 = every epoch.
            if not _eval_epoch(epoch, cfg):
                return record, {}, math.nan  # not evaluated: never the best epoch
            val = evaluate(model, data.val, cfg.train.eval_batch_size)
            record.update({f"val/{k}": v for k, v in val.items()})
            # The reference code's number: the best epoch picked on the test split itself.
            test_now = evaluate(model, data.test, cfg.train.eval_batch_size)
            if test_now["r_mean"] > best_on_test["r_mean"]:
                best_on_test.clear()
                best_on_test.update({**test_now, "epoch": epoch})
            # Model selection on the validation split (the public code picks on test).
            return record, val, val["r_mean"]

        def after_epoch(epoch: int, record: dict, best: Best) -> None:
            if best.epoch == epoch:
                run.save_best({"model": best.state, "epoch": epoch, "val": best.val})
            run.save_last(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "rng": rng_state(),
                    "epoch": epoch,
                    "best": best.summary(),
                    "best_on_test": dict(best_on_test),
                }
            )
            run.log(record, epoch)
            epoch_log(epoch, record)
            if "val/r_mean" in record:
                bar.set_postfix(
                    loss=f"{record['loss/total']:.3f}", r_mean=f"{record['val/r_mean']:.1f}"
                )

        best = fit(model, bar, run_epoch, best=best, after_epoch=after_epoch)
        bar.close()

        model.load_state_dict(best.state)
        test = evaluate(model, data.test, cfg.train.eval_batch_size)
        collapse = collapse_report(
            model, data, pairs, distilled, cfg.train.eval_batch_size, cfg.seed
        )
        collapse["update_norm/model_image"], collapse["update_norm/model_text"] = head_update_norms(
            model, init_state
        )
        ref_model, ref_path = reference_model(
            make_model, data.train, dict(cfg.dataset.get("collapse_reference") or {}), device,
            OmegaConf.to_container(cfg.dataset.model, resolve=True),
        )  # fmt: skip
        collapse.update(fixed_collapse_report(ref_model, data, pairs, distilled, cfg))
        collapse["fixed/reference_model"] = ref_path
        summary = {
            "status": "completed",
            "task": "retrieval",
            "choices": choices,
            "seed": cfg.seed,
            "monitor": "r_mean",
            "train_set": {"source": source, "pairs": len(pairs), "soft_similarity": similarity is not None},
            "best_epoch": best.epoch,
            "epochs": cfg.train.epochs,
            "val": best.val,
            "test": test,
            # Optimistic: selected on test, as the public code does; not the headline number.
            "test_selected_on_test": best_on_test,
            "collapse": collapse,
            "data": data.info,
            "timing": {"total_s": time.perf_counter() - started,
                       "distill_s": distilled.seconds if distilled else 0.0},
            "run_dir": str(run.dir),
        }  # fmt: skip
        if distilled is not None:
            summary["distill"] = {
                "step_sizes": distilled.step_sizes,
                "final_loss": distilled.history[-1]["distill/loss"] if distilled.history else None,
                "blend": remedy.settings.blend,
                "symmetric": remedy.settings.symmetric,
                "preset": remedy.preset,
                "settings": asdict(remedy.settings),
                "eval_learned_lr": remedy.eval_learned_lr,
                # Branches whose learned step size ended at the floor (warned in the log).
                "step_size_floor": distilled.at_floor(),
                "step_size_floor_iterations": distilled.floor_iterations,
                # Fixed-model metrics of the synthetic set as distillation went (also in
                # collapse_curve.json); the first point is the initial pairs (fixed/init).
                "collapse_curve": distilled.collapse_curve,
            }
            if similarity is not None:
                # The figure with axes, colour bar and title (PNG/PDF/SVG); W&B gets the PNG.
                png = similarity_heatmap(
                    similarity.detach().float().cpu().numpy(),
                    run.dir / "similarity.png",
                    f"Distilled soft similarity targets ({choices['dataset']}, first 100 pairs)",
                )
                logger.log_image("distill/similarity", _read_rgb(png), cfg.train.epochs)
        run.write_summary(summary)
        print(format_retrieval(summary))
        return summary


def collapse_report(
    model, data: RetrievalData, pairs: PairSplit, distilled, batch: int, seed: int
) -> dict:
    """Collapse metrics of the trained model on real test pairs and on its own training set,
    the latter's concentration ratio measured against real training pairs."""
    gen = torch.Generator().manual_seed(int(seed) + 3)
    test_first = data.test.one_caption_per_image(gen).to(data.test.txt.device)
    t_img, t_txt = embed(model, data.test, batch)
    # one_caption_per_image is ordered by image, so row i of both embeddings is one pair.
    out = {f"test/{k}": v for k, v in collapse_metrics(t_img, t_txt[test_first]).items()}
    real = data.train.one_caption_per_image(gen)[:1000].to(data.train.txt.device)
    real_split = PairSplit(
        data.train.img[data.train.txt2img[real]],
        data.train.txt[real],
        torch.arange(len(real), device=real.device),
    )
    r_img, r_txt = embed(model, real_split, batch)
    real_m = collapse_metrics(r_img, r_txt)
    out.update({f"real_train/{k}": v for k, v in real_m.items()})
    ref = {"image": real_m["intra_cos/image"], "text": real_m["intra_cos/text"]}
    if len(pairs) <= 5000:
        s_img, s_txt = embed(model, pairs, batch)
        out.update({f"train_set/{k}": v for k, v in collapse_metrics(s_img, s_txt, ref).items()})
    if distilled is not None:
        init = PairSplit(distilled.init_img, distilled.init_txt, pairs.txt2img)
        i_img, i_txt = embed(model, init, batch)
        out["update_norm/synthetic_image"] = relative_update(s_img, i_img)
        out["update_norm/synthetic_text"] = relative_update(s_txt, i_txt)
        out["update_norm/feature_image"] = relative_update(distilled.img, distilled.init_img)
        out["update_norm/feature_text"] = relative_update(distilled.txt, distilled.init_txt)
    return out


def warn_step_size_floor(result: DistilledSet, lr_lr: float, iterations: int) -> None:
    """Say when learned step sizes ended at (or often hit) the 1e-6 floor: the step-size
    update overshot past zero, and an evaluation at the learned step sizes would not train
    those heads."""
    hits = {g: n for g, n in result.floor_iterations.items() if n}
    if not hits:
        return
    log.warning(
        "learned step sizes hit the %g floor (iterations at the floor: %s of %d; at the end: %s); "
        "remedy.lr_lr=%g is too large for this data's step-size gradients: lower it (or set "
        "remedy.eval_learned_lr=false, else evaluation trains those heads at lr %g)",
        STEP_SIZE_FLOOR, ", ".join(f"{g} {n}" for g, n in hits.items()), iterations,
        ", ".join(result.at_floor()) or "none", lr_lr, STEP_SIZE_FLOOR,
    )  # fmt: skip


def _eval_epoch(epoch: int, cfg: DictConfig) -> bool:
    every = int(cfg.dataset.get("eval_every", 1) or 1)
    return every <= 1 or epoch == 0 or (epoch + 1) % every == 0 or epoch == cfg.train.epochs - 1


def learned_lr_optimizer(model: DualEncoder, step_sizes: dict, cfg: DictConfig):
    """The configured optimiser (the data set's: SGD, momentum 0.9) with each head at its
    learned step size (the reference's evaluate_synset_with_similarity: lr_img for the image
    head, lr_txt for the text head), else train.lr."""
    lr_img = step_sizes.get("image", step_sizes.get("all", cfg.train.lr))
    lr_txt = step_sizes.get("text", step_sizes.get("all", cfg.train.lr))
    # The image side is the image head, plus the encoder when it trains (LoRS in pixel space).
    image = [
        p for n, p in model.named_parameters() if p.requires_grad and model.branch_of(n) == "image"
    ]
    groups = [
        {"params": image, "lr": lr_img},
        {"params": list(model.text_head.parameters()), "lr": lr_txt},
    ]
    return make_optimizer(groups, cfg)


def fixed_collapse_report(ref_model, data: RetrievalData, pairs: PairSplit, distilled, cfg) -> dict:
    """Real training pairs, the initial pairs and the training set, all embedded by the fixed
    reference model (mmc.retrieval.reference)."""
    real_pair = fixed_real_pairs(data, cfg)
    sets = {"train_set": (pairs.img[pairs.txt2img], pairs.txt)} if len(pairs) <= 5000 else {}
    if distilled is not None:
        sets["init"] = (distilled.init_img, distilled.init_txt)
    return fixed_collapse(ref_model, real_pair, sets, cfg.train.eval_batch_size)


def fixed_real_pairs(data: RetrievalData, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """The (up to 1000) real training pairs, one caption per image, that every fixed-model
    measure compares with (the run's seed picks them)."""
    gen = torch.Generator().manual_seed(int(cfg.seed) + 5)
    real = data.train.one_caption_per_image(gen)[:1000].to(data.train.txt.device)
    return data.train.img[data.train.txt2img[real]], data.train.txt[real]


def head_update_norms(model: DualEncoder, init_state: dict) -> tuple[float, float]:
    """||θ - θ_0|| / ||θ_0|| of each head's parameters after training."""
    out = []
    for prefix in ("image_head.", "text_head."):
        keys = [k for k in init_state if k.startswith(prefix)]
        now = torch.cat([model.state_dict()[k].flatten() for k in keys])
        then = torch.cat([init_state[k].flatten() for k in keys])
        out.append(float((now - then).norm() / then.norm().clamp_min(1e-12)))
    return out[0], out[1]


def format_retrieval(summary: dict) -> str:
    t = summary["test"]
    c = summary["collapse"]
    lines = [
        f"retrieval on {summary['choices']['dataset']} ({summary['train_set']['source']}, {summary['train_set']['pairs']} pairs), best val epoch {summary['best_epoch']}",
        "  test IR@1/5/10 {:.1f}/{:.1f}/{:.1f} | TR@1/5/10 {:.1f}/{:.1f}/{:.1f}".format(
            t["ir@1"], t["ir@5"], t["ir@10"], t["tr@1"], t["tr@5"], t["tr@10"]),
        "  collapse (test): intra-cos img {:.3f} txt {:.3f}, modality gap {:.3f}".format(
            c["test/intra_cos/image"], c["test/intra_cos/text"], c["test/modality_gap"]),
    ]  # fmt: skip
    if "train_set/concentration/image" in c:
        lines.append("  collapse (training set): concentration img {:.2f} txt {:.2f}, gap {:.3f}".format(
            c["train_set/concentration/image"], c["train_set/concentration/text"], c["train_set/modality_gap"]))  # fmt: skip
    if "fixed/train_set/concentration/image" in c:
        lines.append("  collapse (fixed reference model): concentration img {:.2f} txt {:.2f} (real {:.2f} / {:.2f}), gap {:.3f} (real {:.3f})".format(
            c["fixed/train_set/concentration/image"], c["fixed/train_set/concentration/text"],
            c["fixed/real/concentration/image"], c["fixed/real/concentration/text"],
            c["fixed/train_set/modality_gap"], c["fixed/real/modality_gap"]))  # fmt: skip
    sel = summary.get("test_selected_on_test")
    if sel and "r_mean" in sel:
        lines.append(
            f"  (selected on test, as the public code does: mean recall {sel['r_mean']:.1f}; headline above is val-selected)"
        )
    return "\n".join(lines)
