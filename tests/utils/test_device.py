import pytest
import torch

from mmc.errors import ConfigError
from mmc.utils.device import autocast_dtype, select_device


def test_cpu_and_auto():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:7"])
def test_cuda_without_gpu_is_an_error_not_a_cpu_run(spec):
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        select_device(spec)


def test_malformed_device():
    with pytest.raises(ConfigError, match="use auto, cpu, cuda or cuda:N"):
        select_device("gpu0")


def test_mixed_precision_only_on_cuda():
    assert autocast_dtype("bf16", torch.device("cpu")) is None
    assert autocast_dtype("bf16", torch.device("cuda")) == torch.bfloat16
    with pytest.raises(ConfigError, match="train.precision='8'"):
        autocast_dtype("8", torch.device("cpu"))
