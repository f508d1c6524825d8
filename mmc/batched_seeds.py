"""Several seeds of one experiment in one process, their training steps run as one batched model.

`mmc train seeds=[0,1,2,3,4]` runs the experiment once per seed, each into its own complete run
directory `<run_dir>/seed<s>` (config.yaml, metrics.jsonl, checkpoints, summary.json, its own
W&B run), exactly as `mmc train seed=<s> run_dir=<run_dir>/seed<s>` would. What is shared is
the process (imports, start-up) and, above all, the training steps: each seed runs the
ordinary `train(cfg)` in its own thread, and whenever a training epoch is due (the fused model,
the unimodal references, any remedy stage that goes through `train_epoch`) the seeds meet and
one epoch runs for all of them at once: their parameters stacked along a new leading dimension
(`torch.func.stack_module_state`), the forward pass `torch.func.vmap`-ed over it, one backward
and one optimiser step on the stacked parameters.

Why the numbers match separate runs:
- only one seed's thread runs at any time (a turnstile), each with its own saved global RNG
  state, so everything outside the batched epochs (initialisation, data corruption,
  evaluation, diagnostics) is the very computation of a separate run;
- each seed draws its own batch order from `epoch_generator(seed, epoch)`, as `train_epoch`
  does; the stacked batch is the per-seed batches side by side;
- the summed loss has per-seed gradients on each slice of the stacked parameters, and Adam,
  AdamW and SGD(momentum) update elementwise, so each slice follows its seed's trajectory;
  gradient clipping is applied per seed.
The only difference is floating-point rounding of batched matrix products against unbatched
ones (bmm vs mm, and the reduction order of the summed loss's backward): identical in exact
arithmetic, equal to ~1e-6 relative per step on CPU. tests/test_batched_seeds.py states the
tolerance it checks.

An epoch that cannot be batched (different architectures or data sizes across seeds, dropout
or other randomness in training mode, AMP, a remedy with its own loss terms or adapter, a
model whose forward cannot be vmapped) runs seed by seed instead, each with its own RNG state:
correct, only not faster. `log` says so once per reason.
"""

from __future__ import annotations

import threading
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from mmc.engine.seed_group import Group, enter_group
from mmc.errors import ConfigError
from mmc.logging import wandb_logger
from mmc.runners.lifecycle import run_dir
from mmc.utils.seed import rng_state, set_rng_state


# ------------------------------------------------------------------------ the runs
def seed_configs(cfg: DictConfig) -> list[DictConfig]:
    seeds = list(cfg.seeds)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds={seeds}: each seed may appear once")
    if cfg.resume:
        raise ConfigError("seeds=[...] cannot be combined with resume; resume each seed's run dir")
    root = run_dir(cfg)
    out = []
    for s in seeds:
        c = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
        OmegaConf.set_struct(c, False)
        c.seeds, c.seed, c.run_dir = [], int(s), str(Path(root) / f"seed{s}")
        if cfg.name:
            c.name = f"{cfg.name}-s{s}"
        out.append(c)
        _write_overrides(Path(root), Path(c.run_dir), int(s))
    return out


def _write_overrides(root: Path, run_dir: Path, seed: int) -> None:
    """The job's Hydra overrides with `seeds=[...]` read as `seed=<s>`, so that `mmc report`
    finds the same override columns as for separate runs."""
    src = root / ".hydra" / "overrides.yaml"
    if not src.exists():
        return
    items = [
        o for o in (yaml.safe_load(src.read_text()) or []) if not _is_key(o, ("seeds", "seed"))
    ]
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*items, f"seed={seed}"]))


def _is_key(override: str, keys: tuple[str, ...]) -> bool:
    return override.split("=", 1)[0].lstrip("+~") in keys


def train_seeds(cfg: DictConfig, train_one) -> dict:
    """Train every seed in `cfg.seeds` with `train_one(cfg)` (mmc.train.train), each in its
    own thread of one seed group; returns {"seeds": {seed: summary}} (a failure re-raises)."""
    configs = seed_configs(cfg)
    group = Group(len(configs))
    results: dict[int, dict] = {}
    errors: dict[int, BaseException] = {}
    rng = rng_state()

    def worker(me: int, c: DictConfig) -> None:
        enter_group(group, me)
        try:
            results[me] = train_one(c)
        except BaseException as e:  # noqa: BLE001 (re-raised in the caller's thread)
            errors[me] = e
        finally:
            group.leave(me)

    # Each seed keeps its own W&B run open while the others run (they interleave).
    reinit = wandb_logger.WandbLogger.reinit
    wandb_logger.WandbLogger.reinit = "create_new"
    try:
        threads = [
            threading.Thread(target=worker, args=(i, c), name=f"mmc-seed{c.seed}")
            for i, c in enumerate(configs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        wandb_logger.WandbLogger.reinit = reinit
        set_rng_state(rng)
    if errors:
        first = min(errors)
        raise errors[first]
    return {
        "seeds": {configs[i].seed: results[i] for i in sorted(results)},
        "monitor": results[0].get("monitor") if results else None,
    }
