"""avMNIST benchmarks (not tests: minutes on a CPU).

python scripts/bench_avmnist.py epoch   [--samples 2000] [--threads N]
    CPU seconds per training epoch of the LeNet encoders + concat fusion at batch 40 and
    128, for the MultiBench shapes (image 1x28x28, audio 1x112x112; 55,000 training rows,
    extrapolated from --samples rows) and the small setting (20x20 MFCC; 900 rows).
python scripts/bench_avmnist.py fusion  [--train 3000] [--test 1000] [--epochs 8]
    Builds a MultiBench-layout folder from digit-like stand-in sources (both modalities
    carry the digit, with independent noise), trains `dataset=avmnist` and prints the
    fused model's test accuracy next to each modality alone. With the defaults this took
    about 50 minutes on a busy 2-core CPU (fused 0.854, image 0.367, audio 0.620); much
    shorter runs stop before the models learn (all below 0.3 at 1,250 rows, 6 epochs).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mmc.config.compose import compose_config
from mmc.data.batch import ModalitySpec, MultimodalDataset, MultimodalTensors
from mmc.engine.loop import train_epoch
from mmc.engine.model import build_model
from mmc.engine.optim import make_optimizer
from mmc.train import train

SETTINGS = {
    "multibench": ("avmnist", {"image": (1, 28, 28), "audio": (1, 112, 112)}, 55_000),
    "small": ("avmnist_small", {"image": (1, 28, 28), "audio": (1, 20, 20)}, 900),
}


def random_split(shapes: dict[str, tuple[int, ...]], n: int) -> MultimodalTensors:
    x = {m: torch.rand(n, *s) for m, s in shapes.items()}
    mask = {m: torch.ones(n, dtype=torch.bool) for m in shapes}
    return MultimodalTensors(x, mask, torch.randint(0, 10, (n,)))


def epoch_seconds(dataset: str, shapes: dict, n: int, batch_size: int) -> tuple[float, float]:
    cfg = compose_config([f"dataset={dataset}", "logger=none", f"train.batch_size={batch_size}"])
    split = random_split(shapes, n)
    data = MultimodalDataset(
        split, split, split, {m: ModalitySpec(shape=s) for m, s in shapes.items()},
        "multiclass", 10,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg, data)
    opt = make_optimizer(model.parameters(), cfg)
    train_epoch(model, random_split(shapes, 2 * batch_size), opt, cfg, "multiclass", 0, None)
    start, cpu = time.perf_counter(), time.process_time()
    train_epoch(model, split, opt, cfg, "multiclass", 1, None)
    # CPU time as well: on a shared machine the wall clock also counts other people's jobs.
    return time.perf_counter() - start, time.process_time() - cpu


def bench_epoch(args: argparse.Namespace) -> None:
    rows = []
    for name, (dataset, shapes, full) in SETTINGS.items():
        n = min(args.samples, full)
        for batch_size in (40, 128):
            wall, cpu = epoch_seconds(dataset, shapes, n, batch_size)
            rows.append(
                {
                    "setting": name,
                    "batch": batch_size,
                    "rows_timed": n,
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "wall_ms_per_sample": round(1000 * wall / n, 3),
                    "epoch_wall_s_full": round(wall * full / n, 1),
                    "epoch_cpu_s_full": round(cpu * full / n, 1),
                    "full_rows": full,
                }
            )
            print(json.dumps(rows[-1]), flush=True)


def bench_fusion(args: argparse.Namespace) -> None:
    from mmc.data.avmnist.builder import build_avmnist
    from mmc.data.avmnist.fake_sources import write_fake_fsdd, write_fake_mnist

    work = Path(args.workdir or tempfile.mkdtemp(prefix="avmnist_fusion_"))
    mnist = write_fake_mnist(work / "mnist", args.train, args.test, seed=args.seed)
    fsdd = write_fake_fsdd(work / "fsdd", per_speaker=args.per_speaker, seed=args.seed)
    meta = build_avmnist(
        str(mnist), str(fsdd), str(work / "avmnist"), seed=args.seed, overwrite=True
    )
    print("built", json.dumps({k: meta[k] for k in ("sizes", "image_pca")}), flush=True)
    cfg = compose_config(
        [
            "dataset=avmnist",
            f"dataset.root={work / 'avmnist'}",
            f"dataset.source.val_size={args.val}",
            "logger=none",
            "progress=false",
            f"train.epochs={args.epochs}",
            f"train.batch_size={args.batch_size}",
            f"seed={args.seed}",
            f"run_dir={work / 'run'}",
        ]
    )
    s = train(cfg)
    result = {
        "fused_test_accuracy": s["test"]["accuracy"],
        "image_alone": s["unimodal"]["image"]["accuracy"],
        "audio_alone": s["unimodal"]["audio"]["accuracy"],
        "fused_with_audio_masked": s["test_masked"]["audio"]["accuracy"],
        "fused_with_image_masked": s["test_masked"]["image"]["accuracy"],
        "epochs": args.epochs,
        "train_rows": s["data"]["sizes"]["train"],
        "run_dir": s["run_dir"],
    }
    print(json.dumps(result, indent=2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", choices=["epoch", "fusion"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--samples", type=int, default=2000, help="epoch: rows actually timed")
    p.add_argument("--train", type=int, default=3000, help="fusion: stand-in MNIST training images")
    p.add_argument("--test", type=int, default=1000, help="fusion: stand-in MNIST test images")
    p.add_argument("--val", type=int, default=500, help="fusion: last training rows for validation")
    p.add_argument(
        "--per-speaker", type=int, default=20, help="fusion: recordings per digit/speaker"
    )
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads", flush=True)
    (bench_epoch if args.mode == "epoch" else bench_fusion)(args)


if __name__ == "__main__":
    main()
