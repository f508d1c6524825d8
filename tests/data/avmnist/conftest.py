"""Tiny raw avMNIST sources (MNIST idx + FSDD wav) and the two layouts built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmc.data.avmnist.builder import build_avmnist, build_avmnist_small
from mmc.data.avmnist.fake_sources import write_fake_fsdd, write_fake_mnist

# Small and fast: 20 training / 20 test images per digit, 8 recordings per speaker and digit.
N_TRAIN, N_TEST, PER_SPEAKER = 200, 200, 8
SMALL_TEST_MAX_INDEX = 4


@pytest.fixture(scope="session")
def sizes() -> dict[str, int]:
    return {
        "train": N_TRAIN,
        "test": N_TEST,
        "per_speaker": PER_SPEAKER,
        "small_test_max_index": SMALL_TEST_MAX_INDEX,
    }


@pytest.fixture(scope="session")
def raw_sources(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("avmnist_raw")
    mnist = write_fake_mnist(root / "mnist", N_TRAIN, N_TEST, seed=0)
    fsdd = write_fake_fsdd(root / "fsdd", per_speaker=PER_SPEAKER, seed=0)
    return mnist, fsdd


@pytest.fixture(scope="session")
def multibench_dir(raw_sources, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("avmnist_multibench")
    build_avmnist(*map(str, raw_sources), root=str(out), seed=0)
    return out


@pytest.fixture(scope="session")
def small_dir(raw_sources, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("avmnist_small")
    build_avmnist_small(
        *map(str, raw_sources), root=str(out), seed=0, test_max_index=SMALL_TEST_MAX_INDEX
    )
    return out
