import math

import torch

from mmc.diagnostics.rank import effective_rank, numerical_rank, rank_stats, singular_values


def test_singular_values_match_svd():
    z = torch.randn(300, 20)
    s = singular_values(z, center=True)
    ref = torch.linalg.svdvals((z - z.mean(0)).double())
    assert torch.allclose(s.double(), ref, rtol=1e-3, atol=1e-4 * float(ref[0]))
    exact = singular_values(z.double(), center=True)
    assert torch.allclose(exact, ref, rtol=1e-8)


def test_effective_rank_extremes():
    assert math.isclose(effective_rank(torch.ones(8, dtype=torch.float64)), 8.0, rel_tol=1e-9)
    assert math.isclose(effective_rank(torch.tensor([5.0, 0, 0])), 1.0)


def test_rank_of_a_low_rank_representation():
    z = torch.randn(500, 3) @ torch.randn(3, 40)
    stats = rank_stats(z, rtol=1e-3)
    assert stats["numerical"] == 3 and stats["effective"] <= 3.0
    assert numerical_rank(singular_values(torch.randn(500, 40)), 1e-3) == 40
