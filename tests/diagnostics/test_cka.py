import torch

from mmc.diagnostics.cka import linear_cka


def test_linear_cka_is_one_for_the_same_representation_up_to_rotation_and_scale():
    torch.manual_seed(0)
    x = torch.randn(500, 10)
    q, _ = torch.linalg.qr(torch.randn(10, 10))
    assert abs(linear_cka(x, 3.0 * x @ q) - 1.0) < 1e-9


def test_linear_cka_is_small_for_independent_representations():
    torch.manual_seed(0)
    x, y = torch.randn(2000, 10), torch.randn(2000, 10)
    assert linear_cka(x, y) < 0.05
    # ... and in between when y shares half of x's directions
    mixed = torch.cat([x[:, :5], y[:, :5]], dim=1)
    assert 0.3 < linear_cka(x, mixed) < 0.7
