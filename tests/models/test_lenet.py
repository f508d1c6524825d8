import pytest
import torch

from mmc.data.batch import ModalitySpec
from mmc.errors import ConfigError
from mmc.models.lenet import LeNetEncoder


@pytest.mark.parametrize(
    "shape, blocks, features",
    [((1, 28, 28), 3, 48), ((1, 112, 112), 5, 192), ((20, 20), 3, 48)],
)
def test_multibench_feature_sizes(shape, blocks, features):
    enc = LeNetEncoder(ModalitySpec(shape=shape), out_dim=16, blocks=blocks)
    assert enc.feature_dim == features
    assert enc(torch.rand(3, *shape)).shape == (3, 16)


def test_layer_norm_keeps_rows_independent_batch_norm_does_not():
    torch.manual_seed(0)
    spec = ModalitySpec(shape=(1, 28, 28))
    x = torch.rand(4, 1, 28, 28)
    other = x.clone()
    other[1:] = torch.rand(3, 1, 28, 28) * 5  # e.g. rows whose modality is masked
    for norm, independent in (("layer", True), ("batch", False)):
        enc = LeNetEncoder(spec, out_dim=8, norm=norm).train()
        same = torch.allclose(enc(x)[0], enc(other)[0], atol=1e-6)
        assert same == independent


def test_rejects_non_image_modalities():
    with pytest.raises(ConfigError, match="image-like"):
        LeNetEncoder(ModalitySpec(shape=(64,)), out_dim=8)
    with pytest.raises(ConfigError, match="norm"):
        LeNetEncoder(ModalitySpec(shape=(1, 28, 28)), out_dim=8, norm="weird")
