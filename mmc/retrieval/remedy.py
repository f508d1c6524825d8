"""`remedy=repblend`: the distillation settings, as a remedy the config system can build.

The retrieval runner (mmc.retrieval.run) reads them. It is not a `Remedy` (nothing here hooks
into the fusion loop); `runner = "retrieval"` is what mmc/runners/select.py checks.
"""

from __future__ import annotations

from mmc.errors import ConfigError
from mmc.retrieval.distill import DistillSettings

SPACES = ("feature", "pixel")
INITS = ("random", "herding", "kcenter")


class RepBlend:
    runner = "retrieval"

    def __init__(
        self,
        iterations: int = 3000,
        syn_steps: int = 8,
        batch_syn: int = 20,
        max_start_epoch: int = 2,
        expert_epochs: int = 1,
        lr_img: float = 100.0,
        lr_txt: float = 100.0,
        lr_lr: float = 1e-3,
        lr_sim: float = 10.0,
        momentum: float = 0.5,
        syn_lr_init: float = 0.1,
        similarity: str = "lowrank",
        sim_rank: int = 10,
        sim_alpha: float = 1.0,
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
    ) -> None:
        if space not in SPACES:
            raise ConfigError(
                f"remedy.space={space!r} is not valid; use one of: {', '.join(SPACES)}"
            )
        self.settings = DistillSettings(
            iterations=iterations, syn_steps=syn_steps, batch_syn=batch_syn,
            max_start_epoch=max_start_epoch, expert_epochs=expert_epochs, lr_img=lr_img,
            lr_txt=lr_txt, lr_lr=lr_lr, lr_sim=lr_sim, momentum=momentum,
            syn_lr_init=syn_lr_init, similarity=similarity, sim_rank=sim_rank,
            sim_alpha=sim_alpha, blend=blend, blend_alpha=blend_alpha, symmetric=symmetric,
            log_every=log_every,
        )  # fmt: skip
        self.settings.check()
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
        self.init = init
        self.expert_settings = {
            "num_experts": num_experts,
            "epochs": expert_train_epochs,
            "lr": expert_lr,
            "batch_size": expert_batch_size,
            # Only the snapshots a start epoch can reach are kept (trajectories are large).
            "keep": min(expert_train_epochs, max_start_epoch + expert_epochs),
        }
        self.expert_dir = expert_dir
