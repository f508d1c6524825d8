import torch
from torch import nn

from mmc.diagnostics.neuron_modality import cross_modal_polysemanticity


def _head(weight: torch.Tensor) -> nn.Module:
    head = nn.Sequential(nn.Linear(weight.shape[1], weight.shape[0]), nn.ReLU())
    with torch.no_grad():
        head[0].weight.copy_(weight)
    return head


def test_monosemantic_head_has_no_cross_modal_neurons_and_a_mixed_one_has_all():
    torch.manual_seed(0)
    blocks = {"a": torch.randn(400, 4), "b": torch.randn(400, 4)}
    mono = torch.zeros(6, 8)
    mono[:3, :4] = torch.randn(3, 4)
    mono[3:, 4:] = torch.randn(3, 4)
    out = cross_modal_polysemanticity(_head(mono), blocks)
    assert out["fraction"] == 0.0
    assert abs(out["share/a"] - 0.5) < 1e-9
    mixed = torch.randn(6, 8)
    assert cross_modal_polysemanticity(_head(mixed), blocks)["fraction"] == 1.0


def test_a_neuron_that_barely_reads_a_modality_is_not_counted():
    blocks = {"a": torch.randn(400, 2), "b": torch.randn(400, 2)}
    w = torch.tensor([[1.0, 1.0, 0.01, 0.01]])
    out = cross_modal_polysemanticity(_head(w), blocks)
    assert out["fraction"] == 0.0 and out["share/a"] > 0.99
