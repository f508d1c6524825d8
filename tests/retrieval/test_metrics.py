import math

import pytest
import torch

from mmc.retrieval.collapse import (
    collapse_metrics,
    concentration_ratio,
    intra_modal_cosine_sd,
    modality_gap,
    relative_update,
    standardised_shift,
)
from mmc.retrieval.metrics import retrieval_metrics
from mmc.retrieval.reference import fixed_collapse


def test_tr_counts_a_hit_if_any_caption_ranks_in_top_k_and_ir_uses_own_image():
    # 2 images, 4 captions (2 each). Image 0 best matches caption 3 (image 1's), then caption 1.
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[-1.0, 0.2], [0.8, 0.6], [0.1, 1.0], [0.9, 0.1]])
    txt2img = torch.tensor([0, 0, 1, 1])
    m = retrieval_metrics(img, txt, txt2img, ks=(1, 2))
    # Image 0: own captions rank 2nd and 4th -> miss@1, hit@2. Image 1: caption 2 first -> hit.
    assert m["tr@1"] == 50.0 and m["tr@2"] == 100.0
    # Caption 0 prefers image 1; caption 1 prefers image 0 (0.8 > 0.6); caption 2 image 1;
    # caption 3 prefers image 0 although it belongs to image 1.
    assert m["ir@1"] == 50.0 and m["ir@2"] == 100.0


def test_collapse_metrics_on_known_geometry():
    same = torch.ones(5, 3) + 1e-6 * torch.arange(15).reshape(5, 3)
    spread = torch.eye(5)
    assert collapse_metrics(same, same)["intra_cos/image"] > 0.999
    assert abs(collapse_metrics(spread, spread)["intra_cos/text"]) < 1e-6
    assert modality_gap(spread, spread) == 0.0
    assert modality_gap(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])) > 1.41
    # Concentration: the share of pairs above the reference mean similarity.
    assert concentration_ratio(same, reference_mean=0.5) == 1.0
    assert concentration_ratio(spread, reference_mean=0.5) == 0.0
    assert relative_update(2 * spread, spread) == 1.0


def test_ties_count_against_the_query_constant_embeddings_score_chance():
    # 100 images, 5 captions each, every embedding identical: every score ties. The old
    # rule (a tie is a hit) gave 100 on every recall; a random tie-break gives chance.
    n, c = 100, 5
    txt2img = torch.arange(n).repeat_interleave(c)
    m = retrieval_metrics(torch.ones(n, 8), torch.ones(n * c, 8), txt2img)
    for k in (1, 5, 10):
        assert abs(m[f"ir@{k}"] - 100.0 * k / n) < 1e-6  # own image uniform among N
        # TR: 5 own among 500 captions; P(some own in the first k) = 1 - C(495,k)/C(500,k).
        p_none = math.comb(n * c - c, k) / math.comb(n * c, k)
        assert abs(m[f"tr@{k}"] - 100.0 * (1 - p_none)) < 1e-6


def test_a_tie_between_own_and_other_item_is_half_a_hit_at_1():
    img = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # two identical images
    txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    m = retrieval_metrics(img, txt, torch.tensor([0, 1]), ks=(1, 2))
    # Each caption scores both images equally: a coin flip @1, certain @2.
    assert m["ir@1"] == 50.0 and m["ir@2"] == 100.0


def test_progress_logs_a_line_with_eta_every_n_steps_off_a_terminal():
    from mmc.logging.progress import Progress

    p = Progress(10, "distillation", every=4)
    for _ in range(10):
        p.step()
    p.close()
    # Under pytest stderr is not a terminal: lines at 4, 8 and the end.
    assert len(p.lines) == 3 and p.lines[-1].startswith("distillation: 10/10 it (100%)")
    assert all("ETA" in line for line in p.lines)


def test_bert_cls_runs_on_the_device_it_is_moved_to():
    from types import SimpleNamespace

    from mmc.retrieval.features import BertCLS

    seen = []

    class FakeBert(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            seen.append(input_ids.device)
            return SimpleNamespace(last_hidden_state=torch.ones(len(input_ids), 3, 4))

    b = object.__new__(BertCLS)  # no weights needed: the device plumbing is what is tested
    b.model, b.max_length, b.batch_size, b.device = FakeBert(), 8, 2, torch.device("cpu")
    b.tok = lambda texts, **kw: {"input_ids": torch.zeros(len(texts), 3, dtype=torch.long),
                                 "attention_mask": torch.ones(len(texts), 3, dtype=torch.long)}  # fmt: skip
    assert b.to("meta").device == torch.device("meta")
    b.to("cpu")
    out = b(["a", "b", "c"])
    assert out.shape == (3, 4) and seen == [torch.device("cpu")] * 2


def cone(n: int, dim: int, cos: float, seed: int = 0) -> torch.Tensor:
    """n unit vectors whose pairwise cosines are all exactly `cos`: sqrt(c)·u + sqrt(1-c)·v_i
    with u, v_1..v_n orthonormal."""
    q, _ = torch.linalg.qr(torch.randn(dim, n + 1, generator=torch.Generator().manual_seed(seed)))
    u, v = q[:, 0], q[:, 1:].T
    return math.sqrt(cos) * u + math.sqrt(1 - cos) * v


def test_cosine_sd_and_standardised_shift_on_hand_made_sets():
    # Cosines over distinct pairs of (e1, e2, e1): 0, 1, 0 (each twice) -> mean 1/3,
    # sample sd sqrt(4/15).
    three = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert intra_modal_cosine_sd(three) == pytest.approx(math.sqrt(4 / 15), abs=1e-6)
    assert intra_modal_cosine_sd(cone(10, 16, 0.3)) == pytest.approx(0.0, abs=1e-5)
    assert standardised_shift(cone(10, 16, 0.3), 0.1, 0.05) == pytest.approx(4.0, abs=1e-4)
    assert math.isnan(standardised_shift(three, 0.0, 0.0))
    m = collapse_metrics(three, three, {"image": 0.0, "text": 1 / 3, "image_sd": 0.5, "text_sd": 1})
    assert m["shift_sd/image"] == pytest.approx(2 / 3) and m["shift_sd/text"] == pytest.approx(
        0, abs=1e-6
    )
    assert "shift_sd/image" not in collapse_metrics(three, three)  # no sd, no shift


class Identity(torch.nn.Module):
    def encode_image(self, x):
        return x

    def encode_text(self, x):
        return x


@pytest.mark.parametrize("k", [0.5, 1.0, 2.0])
def test_fixed_model_set_shifted_by_exactly_k_sd(k):
    """Real pairs: isotropic 64-d Gaussians (cosine sd ~1/8); a set whose cosines all sit
    k real sds above the real mean reads shift_sd = k, and every pair exceeds the threshold."""
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(400, 64, generator=gen), torch.randn(400, 64, generator=gen)
    base = fixed_collapse(Identity(), real, {}, batch=128)
    mean, sd = base["fixed/real/intra_cos/image"], base["fixed/real/intra_cos_sd/image"]
    assert sd == pytest.approx(1 / 8, rel=0.05)
    shifted = cone(50, 64, mean + k * sd, seed=2)
    out = fixed_collapse(Identity(), real, {"set": (shifted, real[1][:50])}, batch=128)
    assert out["fixed/set/shift_sd/image"] == pytest.approx(k, abs=1e-4)
    assert out["fixed/set/concentration/image"] == 1.0
    # The text side is a random subset of the real text: no shift beyond sampling noise.
    assert abs(out["fixed/set/shift_sd/text"]) < 0.1
