import pytest
import torch
from torch.func import functional_call

from mmc.errors import ConfigError
from mmc.retrieval.distill import Distiller, DistillSettings, LowRankSimilarity
from mmc.retrieval.model import DualEncoder, soft_bce_loss


class FakeBank:
    """Two snapshots: the model's parameters and a nudged copy (an 'expert epoch')."""

    def __init__(self, model: DualEncoder, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        # Like real expert snapshots: only the parameters that train.
        start = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        end = {n: p + 0.05 * torch.randn(p.shape, generator=g) for n, p in start.items()}
        self.snaps = [start, end]

    def __len__(self) -> int:
        return 1

    def get(self, i):
        return self.snaps


def setup(symmetric: bool, blend: bool, syn_steps: int = 1, n: int = 8):
    torch.manual_seed(0)
    model = DualEncoder(6, 5, 4)
    s = DistillSettings(
        iterations=1, syn_steps=syn_steps, batch_syn=n, max_start_epoch=0, symmetric=symmetric,
        blend=blend, syn_lr_init=0.3, sim_rank=2,
    )  # fmt: skip
    g = torch.Generator().manual_seed(1)
    d = Distiller(model, torch.randn(n, 6, generator=g), torch.randn(n, 5, generator=g), s, g)
    with torch.no_grad():  # a non-trivial similarity so its gradient path is exercised
        d.sim.right.normal_(0, 0.1)
    return model, d


@pytest.mark.parametrize("symmetric,blend", [(True, True), (False, False)])
def test_one_step_memory_constant_gradient_equals_full_unroll(symmetric, blend):
    """With one inner step the TESLA replay is exact: compare with autograd through the unroll."""
    model, d = setup(symmetric, blend)
    bank = FakeBank(model)
    plan = d._plan(8)
    d._plan = lambda n: plan
    d.opt.step = lambda: None  # keep the gradients, skip the update
    d.iteration(bank)
    got = {"img": d.img.grad.clone(), "txt": d.txt.grad.clone(), "right": d.sim.right.grad.clone()}
    got_lr = {g: p.grad.clone() for g, p in d.step_sizes.items()}

    # Reference: the same step with the whole graph kept.
    img, txt = d.img.detach().clone().requires_grad_(), d.txt.detach().clone().requires_grad_()
    right = d.sim.right.detach().clone().requires_grad_()
    lrs = {g: p.detach().clone().requires_grad_() for g, p in d.step_sizes.items()}
    theta0, target = bank.snaps
    theta = {k: v.clone().requires_grad_() for k, v in theta0.items()}
    idx, mix = plan[0]
    logits = functional_call(model, theta, (img[idx], txt[idx]), {"mix": mix})
    sim = (
        torch.diag(d.sim.diag[idx].detach()) + d.sim.scale * d.sim.left[idx].detach() @ right[idx].T
    )
    grads = torch.autograd.grad(soft_bce_loss(logits, sim), list(theta.values()), create_graph=True)
    new = {k: theta[k] - lrs[d.group_of(k)] * g for k, g in zip(theta, grads)}
    loss = 0
    for grp in lrs:
        names = [k for k in theta if d.group_of(k) == grp]
        num = sum(((new[k] - target[k]) ** 2).sum() for k in names)
        den = sum(((theta0[k] - target[k]) ** 2).sum() for k in names)
        loss = loss + num / den
    loss.backward()
    torch.testing.assert_close(got["img"], img.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(got["txt"], txt.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(got["right"], right.grad, rtol=1e-4, atol=1e-7)
    for g in lrs:
        torch.testing.assert_close(got_lr[g], lrs[g].grad, rtol=1e-4, atol=1e-7)


def test_symmetric_matching_has_a_term_and_step_size_per_branch():
    _, sym = setup(symmetric=True, blend=False)
    _, joint = setup(symmetric=False, blend=False)
    assert set(sym.step_sizes) == {"image", "text"} and set(joint.step_sizes) == {"all"}
    model, _ = setup(True, False)
    out = sym.iteration(FakeBank(model))
    assert {"distill/loss_image", "distill/loss_text"} <= set(out)
    assert out["distill/loss"] == pytest.approx(
        out["distill/loss_image"] + out["distill/loss_text"]
    )


def test_blending_mixes_both_modalities_with_one_lambda_and_permutation():
    torch.manual_seed(0)
    model = DualEncoder(6, 5, 4).eval()
    x, y = torch.randn(4, 6), torch.randn(4, 5)
    perm = torch.tensor([2, 0, 3, 1])
    got = model(x, y, mix=(0.3, perm))
    xm, ym = 0.3 * x + 0.7 * x[perm], 0.3 * y + 0.7 * y[perm]
    torch.testing.assert_close(got, model(xm, ym))
    _, d = setup(True, True, syn_steps=3)
    plan = d._plan(8)
    assert all(mix is not None and 0 <= mix[0] <= 1 for _, mix in plan)
    _, d = setup(True, False, syn_steps=3)
    assert all(mix is None for _, mix in d._plan(8))


def test_low_rank_similarity_starts_as_identity():
    s = LowRankSimilarity(5, 2, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(s(), torch.eye(5))
    torch.testing.assert_close(s(torch.tensor([3, 1])), torch.eye(2))


def test_distillation_lowers_the_matching_loss():
    model, d = setup(True, True, syn_steps=2)
    d.opt.param_groups[0]["lr"] = d.opt.param_groups[1]["lr"] = 1.0
    bank = FakeBank(model)
    first = d.iteration(bank)["distill/loss"]
    for _ in range(30):
        last = d.iteration(bank)["distill/loss"]
    assert last < first


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="remedy.similarity"):
        DistillSettings(similarity="dense").check()
    with pytest.raises(ConfigError, match="remedy.syn_steps"):
        DistillSettings(syn_steps=0).check()


@pytest.mark.parametrize("train_encoder", [False, True])
def test_pixel_space_distils_pixels_through_the_encoder(train_encoder):
    """Pixel space: synthetic images are pixels; symmetric matching keeps the encoder frozen
    (its parameters are not in the trajectory), full-encoder matching matches them too."""
    from mmc.retrieval.features import TinyCNN

    torch.manual_seed(0)
    model = DualEncoder(8, 5, 4, image_encoder=TinyCNN(out_dim=8, image_size=8, width=4))
    model.image_encoder.requires_grad_(train_encoder)
    s = DistillSettings(syn_steps=1, batch_syn=6, max_start_epoch=0, symmetric=not train_encoder,
                        blend=not train_encoder)  # fmt: skip
    g = torch.Generator().manual_seed(1)
    d = Distiller(model, torch.randn(6, 3, 8, 8, generator=g), torch.randn(6, 5, generator=g), s, g)
    bank = FakeBank(model)
    before = {n: p.detach().clone() for n, p in model.image_encoder.named_parameters()}
    d.opt.step = lambda: None
    d.iteration(bank)
    matched = set(bank.snaps[0])
    assert any(n.startswith("image_encoder.") for n in matched) == train_encoder
    assert d.img.grad is not None and d.img.grad.abs().sum() > 0
    for n, p in model.image_encoder.named_parameters():
        torch.testing.assert_close(p.detach(), before[n])  # the template is never trained
