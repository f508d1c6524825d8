import torch

from mmc.data.batch import MultimodalTensors
from mmc.data.corruption import add_uniform_noise, drop_modalities, feature_range


def _split(n=4000, mods=("a", "b", "c")):
    x = {m: torch.randn(n, 5) for m in mods}
    return MultimodalTensors(x, {m: torch.ones(n, dtype=torch.bool) for m in mods}, torch.zeros(n))


def test_drop_rate_and_no_sample_loses_everything():
    s = drop_modalities(_split(), 0.7, ["a", "b", "c"], torch.Generator().manual_seed(0))
    observed = torch.stack(list(s.mask.values()), 1)
    assert observed.any(1).all()
    # 0.7 per modality, minus the rows given one modality back (0.7^3 of them, 1/3 each).
    expected = 0.7 - 0.7**3 / 3
    assert abs((~observed).float().mean().item() - expected) < 0.02


def test_only_listed_modalities_go_missing():
    s = drop_modalities(_split(), 0.9, ["b"], torch.Generator().manual_seed(0))
    assert s.mask["a"].all() and s.mask["c"].all() and 0.85 < 1 - s.mask["b"].float().mean() < 0.95


def test_rows_that_arrive_empty_stay_empty():
    split = _split(n=10)
    for m in split.mask:
        split.mask[m][:3] = False
    s = drop_modalities(split, 0.5, ["a"], torch.Generator().manual_seed(0))
    assert not torch.stack([s.mask[m][:3] for m in s.mask]).any()


def test_uniform_noise_only_touches_one_modality_within_amplitude():
    split = _split(n=500)
    scale = feature_range(split.x["b"], split.mask["b"])
    noisy = add_uniform_noise(split, "b", 0.2, scale, torch.Generator().manual_seed(0))
    assert torch.equal(noisy.x["a"], split.x["a"])
    delta = noisy.x["b"] - split.x["b"]
    assert (delta.abs() <= 0.1 * scale + 1e-6).all() and delta.abs().max() > 0.05 * scale.min()
