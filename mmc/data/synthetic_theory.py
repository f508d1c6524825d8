"""Synthetic benchmark built on the collapse paper's theory (§3, Lemma 1–3, Theorem 1–2).

Every modality i carries two kinds of latent factors, entangled by a fixed random orthogonal
mixing so that no input coordinate is purely one kind:

- `n_predictive` predictive factors: beta_i * prototype_i[group_i(y)] + N(0, predictive_noise²),
  group_i a random balanced partition of the classes into `groups` groups (default: one
  group per class). Given the label, the modalities are independent noisy views, so every
  modality holds label information the others lack and the Bayes-optimal prediction
  combines all of them (complementary information, the setting of Lemma 3); with
  `groups < num_classes` a modality alone cannot even tell some classes apart;
- `n_noise` noisy factors: label-independent Gaussians of standard deviation noise_std_i
  (high variance: the "noisy features" of Lemma 3 / Theorem 1).

The eliminated modality is the last one: its predictive strength is `beta` (the paper's β,
"the strength of the modality that gets eliminated", the generator knob of Fig. 5) and its
noise is `weak_noise_std`; the others use `strength` and `noise_std`. Prototypes, partitions
and the mixing of modality i are drawn from a generator seeded by (structure_seed, i) alone,
so modality i is the same distribution for every M and for every beta (an M-sweep adds
modalities, it does not redraw them); samples come from a separate stream seeded by
sample_seed. Both default to `seed` (null), so one seed redraws everything; fixing
`structure_seed` keeps the data *distribution* across run seeds (only samples, init and
order vary), fixing `sample_seed` too keeps the very samples (only init and order vary:
the spread over run seeds is then training variance alone).

`MultimodalDataset.factors` holds, per modality, the input-space directions that read the
predictive and the noisy factors back (the mixing is orthogonal, so factors = x @ dirs):
the `neurons` diagnostic uses them for the paper's predictive-noisy entanglement.

With a narrow fusion head (model.head_hidden below the number of predictive factors, which
forces superposition) and weight decay, the fused model learns the strong modalities' groups
and fits the remaining training labels through the eliminated modality's high-variance noisy
factors instead of its weak predictive ones: a fused model with every modality present then
scores below a late-fusion ensemble of unimodal models (`diagnostics.extra=[ensemble]`) —
harmful collapse, not the rational ignoring of a redundant modality that `synthetic` shows.
"""

from __future__ import annotations

import numpy as np
import torch

from mmc.data.batch import ModalitySpec, MultimodalDataset, MultimodalTensors
from mmc.errors import check
from mmc.utils.seed import checked_seed


def _partition(num_classes: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced random map from classes to groups (each group gets num_classes/groups classes,
    up to rounding)."""
    return rng.permutation(np.arange(num_classes) % groups)


def _structure(seed: int, i: int, num_classes: int, groups: int, n_pred: int, n_noise: int):
    rng = np.random.default_rng([seed, i])
    partition = _partition(num_classes, groups, rng)
    prototypes = rng.standard_normal((groups, n_pred))
    prototypes /= np.linalg.norm(prototypes, axis=1, keepdims=True) / np.sqrt(n_pred)
    mixing, _ = np.linalg.qr(rng.standard_normal((n_pred + n_noise, n_pred + n_noise)))
    return partition, prototypes, mixing


def make_theory_synthetic(
    n_modalities: int = 2,
    num_classes: int = 10,
    groups: int = 10,
    n_train: int = 2000,
    n_val: int = 500,
    n_test: int = 2000,
    n_predictive: int = 4,
    n_noise: int = 28,
    strength: float = 1.5,
    beta: float = 1.5,
    predictive_noise: float = 1.0,
    noise_std: float = 1.0,
    weak_noise_std: float = 8.0,
    seed: int = 0,
    structure_seed: int | None = None,
    sample_seed: int | None = None,
) -> MultimodalDataset:
    check(2 <= n_modalities <= 8, f"dataset.source.n_modalities={n_modalities}: use 2 to 8")
    check(
        2 <= groups <= num_classes,
        f"dataset.source.groups={groups}: use 2..num_classes ({num_classes})",
    )
    check(min(n_train, n_val, n_test) > 0, "dataset.source.n_train/n_val/n_test must be > 0")
    check(n_predictive >= 1 and n_noise >= 0, "dataset.source.n_predictive >= 1, n_noise >= 0")
    check(beta >= 0 and strength >= 0, "dataset.source.beta and strength must be >= 0")
    dim = n_predictive + n_noise
    seed = checked_seed("dataset.source.seed", seed)
    structure_seed = (
        seed
        if structure_seed is None
        else checked_seed("dataset.source.structure_seed", structure_seed)
    )
    sample_seed = (
        seed if sample_seed is None else checked_seed("dataset.source.sample_seed", sample_seed)
    )
    structure = [
        _structure(structure_seed, i, num_classes, groups, n_predictive, n_noise)
        for i in range(n_modalities)
    ]
    weak = n_modalities - 1
    beta_i = [beta if i == weak else strength for i in range(n_modalities)]
    noise_i = [weak_noise_std if i == weak else noise_std for i in range(n_modalities)]
    rng = np.random.default_rng([sample_seed, 10_007])  # samples: one stream, apart from structure

    def sample(n: int) -> MultimodalTensors:
        y = rng.integers(0, num_classes, n)
        xs = {}
        for i, (partition, prototypes, mixing) in enumerate(structure):
            pred = beta_i[i] * prototypes[partition[y]]
            pred = pred + predictive_noise * rng.standard_normal((n, n_predictive))
            noise = noise_i[i] * rng.standard_normal((n, n_noise))
            xs[f"m{i}"] = torch.from_numpy(np.hstack([pred, noise]) @ mixing.T).float()
        masks = {m: torch.ones(n, dtype=torch.bool) for m in xs}
        return MultimodalTensors(xs, masks, torch.from_numpy(y).long())

    train, val, test = sample(n_train), sample(n_val), sample(n_test)
    # How much label information the modalities hold together: classes left ambiguous when
    # every group is known (1.0 = the partitions jointly identify every class).
    codes = np.stack([s[0] for s in structure], axis=1)
    joint = len({tuple(r) for r in codes.tolist()}) / num_classes
    data = MultimodalDataset(
        train=train,
        val=val,
        test=test,
        specs={m: ModalitySpec(shape=(dim,)) for m in train.x},
        task="multiclass",
        num_classes=num_classes,
        info={
            "strengths": {f"m{i}": float(beta_i[i]) for i in range(n_modalities)},
            "strongest": "m0",
            "weakest": f"m{weak}",
            "eliminated": f"m{weak}",
            "beta": float(beta),
            "class_groups_per_modality": groups,
            "joint_identifiability": joint,
            "structure_seed": structure_seed,
            "sample_seed": sample_seed,
        },
    )
    data.factors = {
        f"m{i}": {
            "predictive": torch.from_numpy(mixing[:, :n_predictive]).float(),
            "noisy": torch.from_numpy(mixing[:, n_predictive:]).float(),
        }
        for i, (_, _, mixing) in enumerate(structure)
    }
    return data
