import torch

from mmc.diagnostics.latent_alignment import latent_alignment, pair_cosines


def test_identical_latents_align_and_independent_ones_do_not():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 64, generator=gen)
    same = pair_cosines(a, a.clone(), torch.Generator().manual_seed(1))
    assert same["same"] > 0.999
    assert abs(same["random"]) < 0.02
    b = torch.randn(2000, 64, generator=gen)
    indep = pair_cosines(a, b, torch.Generator().manual_seed(1))
    assert abs(indep["same"]) < 0.02 and abs(indep["random"]) < 0.02


def test_random_pairs_never_pair_a_sample_with_itself():
    # Orthogonal one-hot rows: any self-pair would give cosine 1.
    a = torch.eye(50)
    c = pair_cosines(a, a, torch.Generator().manual_seed(3))
    assert c["same"] == 1.0 and c["random"] == 0.0


def test_latent_alignment_uses_only_samples_that_observe_both():
    g = torch.randn(100, 8)
    junk = torch.randn(100, 8)
    mixed = torch.where(torch.arange(100)[:, None] < 50, g, junk)
    mask = {"a": torch.ones(100, dtype=torch.bool), "b": torch.arange(100) < 50}
    out = latent_alignment({"a": g, "b": mixed}, mask)
    assert out["cos_same"] > 0.999
