"""Synthetic collapse benchmark: modalities generated from known latent factors.

Each modality i has `n_predictive` label-predictive factors (a class prototype scaled by the
strength beta_i, plus Gaussian noise) and `n_noise` label-independent factors, entangled by a
fixed random orthogonal mixing. `complementarity` controls how label information is spread:
at 0 every modality can identify the class alone (redundant); towards 1 each modality only
sees a coarse random partition of the classes, so the label needs several modalities.
The default (two modalities, one strong and one weak) makes a concat-fusion model collapse
onto the strong modality although the weak one alone is predictive.
"""

from __future__ import annotations

import numpy as np
import torch

from mmc.data.batch import ModalitySpec, MultimodalDataset, MultimodalTensors
from mmc.errors import ConfigError, check
from mmc.utils.seed import checked_seed


def _per_modality(values: list[float], n: int, name: str) -> np.ndarray:
    """Exact list of length n, or a [first, last] pair interpolated over n modalities."""
    values = [float(v) for v in values]
    if len(values) == n:
        return np.asarray(values)
    if len(values) == 2:
        return np.linspace(values[0], values[1], n)
    raise ConfigError(
        f"dataset.source.{name} has {len(values)} values for {n} modalities; "
        f"give {n} values or a [strongest, weakest] pair"
    )


def _class_partition(num_classes: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """Random surjective map from classes to `groups` groups."""
    assignment = np.concatenate([np.arange(groups), rng.integers(0, groups, num_classes - groups)])
    return rng.permutation(assignment)


def make_synthetic(
    n_modalities: int = 2,
    num_classes: int = 10,
    n_train: int = 6000,
    n_val: int = 1000,
    n_test: int = 2000,
    n_predictive: int = 8,
    n_noise: int = 24,
    strengths: list[float] = (2.0, 1.0),
    predictive_noise: list[float] = (0.5, 1.0),
    noise_std: list[float] = (1.0, 2.0),
    complementarity: float = 0.0,
    seed: int = 0,
) -> MultimodalDataset:
    check(2 <= n_modalities <= 5, f"dataset.source.n_modalities={n_modalities}: use 2 to 5")
    check(num_classes >= 2, f"dataset.source.num_classes={num_classes}: use at least 2")
    check(
        0.0 <= complementarity <= 1.0,
        f"dataset.source.complementarity={complementarity}: use a value in [0, 1]",
    )
    check(min(n_train, n_val, n_test) > 0, "dataset.source.n_train/n_val/n_test must be > 0")
    beta = _per_modality(list(strengths), n_modalities, "strengths")
    sig_p = _per_modality(list(predictive_noise), n_modalities, "predictive_noise")
    sig_n = _per_modality(list(noise_std), n_modalities, "noise_std")

    # The generative structure (prototypes, partitions, mixings) is fixed by `seed` alone so
    # that train/val/test come from the same distribution.
    rng = np.random.default_rng(checked_seed("dataset.source.seed", seed))
    dim = n_predictive + n_noise
    groups = int(round(num_classes - complementarity * (num_classes - 2)))
    structure = []
    for _ in range(n_modalities):
        partition = (
            np.arange(num_classes)
            if groups == num_classes
            else _class_partition(num_classes, groups, rng)
        )
        prototypes = rng.standard_normal((groups, n_predictive))
        mixing, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        structure.append((partition, prototypes, mixing))

    def sample(n: int) -> MultimodalTensors:
        y = rng.integers(0, num_classes, n)
        xs = {}
        for i, (partition, prototypes, mixing) in enumerate(structure):
            pred = beta[i] * prototypes[partition[y]] + sig_p[i] * rng.standard_normal(
                (n, n_predictive)
            )
            noise = sig_n[i] * rng.standard_normal((n, n_noise))
            xs[f"m{i}"] = torch.from_numpy(np.hstack([pred, noise]) @ mixing.T).float()
        masks = {m: torch.ones(n, dtype=torch.bool) for m in xs}
        return MultimodalTensors(xs, masks, torch.from_numpy(y).long())

    train, val, test = sample(n_train), sample(n_val), sample(n_test)
    specs = {m: ModalitySpec(shape=(dim,)) for m in train.x}
    order = np.argsort(-beta, kind="stable")
    return MultimodalDataset(
        train=train,
        val=val,
        test=test,
        specs=specs,
        task="multiclass",
        num_classes=num_classes,
        info={
            "strengths": {f"m{i}": float(beta[i]) for i in range(n_modalities)},
            # Known by construction; runs still *measure* unimodal strength separately.
            "strongest": f"m{order[0]}",
            "weakest": f"m{order[-1]}",
            "class_groups_per_modality": groups,
        },
    )
