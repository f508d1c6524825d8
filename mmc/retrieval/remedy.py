"""`remedy=repblend`: the distillation settings, as a remedy the config system can build.

The retrieval runner (mmc.retrieval.run) reads them. It is not a `Remedy` (nothing here hooks
into the fusion loop); `runner = "retrieval"` is what mmc/runners/select.py checks.
"""

from __future__ import annotations

from dataclasses import replace

from mmc.errors import ConfigError
from mmc.retrieval.distill import DistillSettings
from mmc.retrieval.presets import preset_for

SPACES = ("feature", "pixel")
INITS = ("random", "herding", "kcenter")


class RepBlend:
    runner = "retrieval"

    def __init__(
        self,
        iterations: int = 3000,
        syn_steps: int = 8,
        batch_syn: int = 20,
        max_start_epoch: int | None = None,
        expert_epochs: int = 1,
        lr_img: float | None = None,
        lr_txt: float | None = None,
        lr_lr: float | None = None,
        lr_sim: float | None = None,
        momentum: float = 0.5,
        syn_lr_init: float = 0.1,
        similarity: str = "lowrank",
        sim_rank: int | None = None,
        sim_alpha: float | None = None,
        branches: str | None = None,
        blend: bool = True,
        blend_alpha: float = 1.0,
        symmetric: bool = True,
        log_every: int = 10,
        space: str = "feature",
        num_experts: int = 20,
        expert_train_epochs: int = 10,
        expert_lr: float = 0.1,
        expert_batch_size: int = 128,
        expert_dir: str = "outputs/experts",
        init: str = "random",
        eval_learned_lr: bool = True,
        collapse_every: int | None = None,
    ) -> None:
        if space not in SPACES:
            raise ConfigError(
                f"remedy.space={space!r} is not valid; use one of: {', '.join(SPACES)}"
            )
        # Fields left None come from the reference preset of the data set and size
        # (mmc.retrieval.presets), resolved by `resolve` once those are known.
        self.overrides = {
            "lr_img": lr_img, "lr_txt": lr_txt, "lr_lr": lr_lr, "lr_sim": lr_sim, "sim_rank": sim_rank,
            "sim_alpha": sim_alpha, "max_start_epoch": max_start_epoch, "branches": branches,
        }  # fmt: skip
        self.settings = DistillSettings(
            iterations=iterations, syn_steps=syn_steps, batch_syn=batch_syn,
            expert_epochs=expert_epochs, momentum=momentum,
            syn_lr_init=syn_lr_init, similarity=similarity, blend=blend,
            blend_alpha=blend_alpha, symmetric=symmetric, log_every=log_every,
            **{k: v for k, v in self.overrides.items() if v is not None},
        )  # fmt: skip
        self.settings.check()
        self.preset = "none"
        max_start = max_start_epoch if max_start_epoch is not None else 3  # largest preset
        if num_experts < 1 or expert_train_epochs < 1:
            raise ConfigError(
                "remedy.num_experts and remedy.expert_train_epochs must be at least 1"
            )
        if expert_train_epochs < expert_epochs:
            raise ConfigError(
                f"remedy.expert_train_epochs={expert_train_epochs} < remedy.expert_epochs="
                f"{expert_epochs}: the experts must train at least as long as the matched span"
            )
        if init not in INITS:
            raise ConfigError(f"remedy.init={init!r} is not valid; use one of: {', '.join(INITS)}")
        self.space = space
        self.eval_learned_lr = eval_learned_lr
        self.init = init
        self.expert_settings = {
            "num_experts": num_experts,
            "epochs": expert_train_epochs,
            "lr": expert_lr,
            "batch_size": expert_batch_size,
            # Only the snapshots a start epoch can reach are kept (trajectories are large).
            "keep": min(expert_train_epochs, max_start + expert_epochs),
        }
        self.expert_dir = expert_dir
        # The fixed-model collapse curve of the synthetic set (mmc.retrieval.run): every
        # collapse_every iterations; null = the progress interval (10 x log_every), 0 = off.
        # Measuring only: the distilled set is the same with or without it.
        self.collapse_every = 10 * log_every if collapse_every is None else int(collapse_every)
        if self.collapse_every < 0:
            raise ConfigError(
                f"remedy.collapse_every={collapse_every} must be >= 0 (0: no collapse curve)"
            )

    def resolve(self, dataset: str, num_pairs: int) -> DistillSettings:
        """Fill the fields left null from the reference preset of (dataset, num_pairs)."""
        values, self.preset = preset_for(dataset, num_pairs)
        values.update({k: v for k, v in self.overrides.items() if v is not None})
        self.settings = replace(self.settings, **values)
        self.settings.check()
        return self.settings
