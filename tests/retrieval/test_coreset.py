import pytest
import torch

from mmc.errors import ConfigError
from mmc.retrieval.coreset import pair_features, select


def test_herding_matches_the_mean_and_kcenter_covers_better_than_random():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(400, 8, generator=g), torch.randn(400, 6, generator=g)
    x = pair_features(img, txt)
    picks = {
        m: select(m, img, txt, 20, torch.Generator().manual_seed(1))
        for m in ("random", "herding", "kcenter")
    }
    assert all(len(set(p.tolist())) == 20 for p in picks.values())

    def mean_err(p):
        return float((x[p].mean(0) - x.mean(0)).norm())

    def cover(p):  # the largest distance from any point to its nearest pick
        return float(torch.cdist(x, x[p]).min(dim=1).values.max())

    assert mean_err(picks["herding"]) < 0.5 * mean_err(picks["random"])
    assert cover(picks["kcenter"]) < cover(picks["random"])


def test_unknown_coreset_method_names_the_choices():
    with pytest.raises(ConfigError, match="herding"):
        select("gradmatch", torch.zeros(3, 2), torch.zeros(3, 2), 2, torch.Generator())
