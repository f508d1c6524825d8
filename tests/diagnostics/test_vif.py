import torch

from mmc.diagnostics.vif import average_vif, modality_vif, variance_inflation


def test_vif_is_one_for_independent_features_and_large_for_collinear_ones():
    torch.manual_seed(0)
    x = torch.randn(5000, 4)
    assert abs(average_vif(x) - 1.0) < 0.02
    near = torch.cat([x, x[:, :1] + x[:, 1:2] + 0.05 * torch.randn(5000, 1)], dim=1)
    v = variance_inflation(near)
    assert v[0] > 100 and v[2] < 1.05  # x0 is explained by x1 and the new column; x2 is not


def test_dead_features_are_ignored():
    torch.manual_seed(0)
    x = torch.cat([torch.randn(1000, 3), torch.zeros(1000, 2)], dim=1)
    assert abs(average_vif(x) - 1.0) < 0.02


def test_modality_vif_grows_with_shared_signal_between_modalities():
    torch.manual_seed(0)
    shared = torch.randn(3000, 4)
    independent = [torch.randn(3000, 8) for _ in range(3)]
    entangled = [
        torch.cat([shared + 0.3 * torch.randn(3000, 4), torch.randn(3000, 4)], 1) for _ in range(3)
    ]
    assert modality_vif(independent) < 1.05
    assert modality_vif(entangled) > modality_vif(entangled[:2]) > 1.3
