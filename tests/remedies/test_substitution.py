import pytest
import torch

from mmc.errors import ConfigError
from mmc.remedies.substitution import SUBSTITUTIONS, adapted_embeddings, make_substitution
from tests.options import SMALL_EBR, SUBSTITUTION


def fitted(tiny_model, name, *overrides):
    cfg, data, model, _ = tiny_model(*overrides)
    model.eval()
    sub = make_substitution(name, model)
    sub.fit(model, data, torch.device("cpu"))
    return data, model, sub


def eval_inputs(model, data, n=40):
    """Fusion inputs of n test rows with m0 missing in the first half, m1 in rows 30-39."""
    b = data.test.batch(slice(0, n))
    mask = {m: v.clone() for m, v in b.mask.items()}
    mask["m0"][: n // 2] = False
    mask["m1"][30:] = False
    emb = adapted_embeddings(model, data.test.subset(torch.arange(n)))
    return emb, mask


@pytest.mark.parametrize("name,overrides", sorted(SUBSTITUTION.items()))
def test_substitution_reads_only_observed_modalities(tiny_model, name, overrides):
    data, model, sub = fitted(tiny_model, name, *overrides)
    emb, mask = eval_inputs(model, data)
    model.remedy.adapt(emb, mask, None)  # EBR substitution reads the latents of this adapt call
    junk = {
        m: torch.where(mask[m].unsqueeze(-1), e, torch.randn_like(e) * 100) for m, e in emb.items()
    }
    other = {
        m: torch.where(mask[m].unsqueeze(-1), e, torch.randn_like(e) * 100) for m, e in emb.items()
    }
    if name == "random":  # same draws for both calls
        sub.gen.manual_seed(5)
    a, mask_a = sub(junk, mask, model)
    if name == "random":
        sub.gen.manual_seed(5)
    b, _ = sub(other, mask, model)
    for m in emb:
        assert torch.allclose(a[m], b[m]), f"{name}: the proxy of {m} depends on hidden values"
        assert torch.equal(a[m][mask[m]], emb[m][mask[m]])  # observed rows untouched
        assert mask_a[m].all()  # every row had something observed, so everything is filled


def test_mean_and_nearest_fill_from_training_rows(tiny_model):
    data, model, mean = fitted(tiny_model, "mean")
    emb, mask = eval_inputs(model, data)
    train_emb = adapted_embeddings(model, data.train)
    filled, _ = mean(emb, mask, model)
    assert torch.allclose(filled["m0"][0], train_emb["m0"].mean(0), atol=1e-5)

    nearest = make_substitution("nearest", model)
    nearest.fit(model, data, torch.device("cpu"))
    # A test row identical (on m1) to training row 7 gets training row 7's m0.
    emb["m1"][0] = train_emb["m1"][7]
    filled, _ = nearest(emb, mask, model)
    assert torch.allclose(filled["m0"][0], train_emb["m0"][7])


def test_ebr_substitution_decodes_the_best_ranked_available_latent(tiny_model):
    data, model, sub = fitted(tiny_model, "ebr", "remedy=ebr", *SMALL_EBR)
    assert sub.ranking == {"m0": ["m1"], "m1": ["m0"]}
    emb, mask = eval_inputs(model, data)
    model.remedy.adapt(emb, mask, None)
    filled, _ = sub(emb, mask, model)
    expected = model.remedy.decode("m0", model.remedy.latents["m1"][:20])
    assert torch.allclose(filled["m0"][:20], expected)


def test_unknown_substitution_lists_the_choices():
    with pytest.raises(ConfigError, match="nearest"):
        make_substitution("nope")
    assert set(SUBSTITUTIONS) == set(SUBSTITUTION)
