import pytest
import torch
from torch.func import functional_call

from mmc.errors import ConfigError
from mmc.retrieval.distill import STEP_SIZE_FLOOR, Distiller, DistillSettings, LowRankSimilarity
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


def setup(symmetric: bool, blend: bool, syn_steps: int = 1, n: int = 8, branches=None):
    torch.manual_seed(0)
    model = DualEncoder(6, 5, 4)
    branches = branches or ("per_branch" if symmetric else "joint")
    s = DistillSettings(
        iterations=1, syn_steps=syn_steps, batch_syn=n, max_start_epoch=1, symmetric=symmetric,
        blend=blend, syn_lr_init=0.3, sim_rank=2, branches=branches,
    )  # fmt: skip
    g = torch.Generator().manual_seed(1)
    d = Distiller(model, torch.randn(n, 6, generator=g), torch.randn(n, 5, generator=g), s, g)
    with torch.no_grad():  # a non-trivial similarity so its gradient path is exercised
        d.sim.right.normal_(0, 0.1)
    return model, d


@pytest.mark.parametrize(
    "symmetric,blend,branches",
    [(True, True, "per_branch"), (False, False, "joint"), (True, False, "merged")],
)
def test_one_step_memory_constant_gradient_equals_full_unroll(symmetric, blend, branches):
    """With one inner step the TESLA replay is exact: compare with autograd through the unroll
    (merged: the data follow the merged term, each step size its own branch's term)."""
    model, d = setup(symmetric, blend, branches=branches)
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
    num = {
        g: sum(((new[k] - target[k]) ** 2).sum() for k in theta if d.group_of(k) == g) for g in lrs
    }
    den = {
        g: sum(((theta0[k] - target[k]) ** 2).sum() for k in theta if d.group_of(k) == g)
        for g in lrs
    }
    per_branch = sum(num[g] / den[g] for g in lrs)
    data_loss = sum(num.values()) / sum(den.values()) if branches == "merged" else per_branch
    data_loss.backward(retain_graph=True)
    lr_grads = torch.autograd.grad(per_branch, list(lrs.values()))
    for p, gr in zip(lrs.values(), lr_grads):
        p.grad = gr
    torch.testing.assert_close(got["img"], img.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(got["txt"], txt.grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(got["right"], right.grad, rtol=1e-4, atol=1e-7)
    for g in lrs:
        torch.testing.assert_close(got_lr[g], lrs[g].grad, rtol=1e-4, atol=1e-7)


def test_reference_bookkeeping_has_a_term_and_step_size_per_branch():
    _, sym = setup(symmetric=True, blend=False)
    _, lors = setup(symmetric=False, blend=False, branches="per_branch")
    assert set(lors.step_sizes) == {"image", "text"}  # LoRS has two step sizes too
    _, joint = setup(symmetric=False, blend=False, branches="joint")
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


def test_blend_draws_do_not_depend_on_the_global_rng():
    """Beta(alpha != 1) comes from the distiller's own generator, so a run that trained its
    experts (which seeds torch's global RNG) blends exactly as one that loaded them."""

    def lambdas(global_seed: int) -> list[float]:
        s = DistillSettings(iterations=1, syn_steps=6, batch_syn=4, blend=True, blend_alpha=0.5)
        g = torch.Generator().manual_seed(3)
        d = Distiller(DualEncoder(6, 5, 4), torch.randn(8, 6), torch.randn(8, 5), s, g)
        torch.manual_seed(global_seed)
        return [mix[0] for _, mix in d._plan(8)]

    a, b = lambdas(0), lambdas(123)
    assert a == b and len(set(a)) == 6 and all(0 <= x <= 1 for x in a)


def test_low_rank_similarity_starts_as_identity_with_the_reference_init():
    s = LowRankSimilarity(400, 10, 3.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(s(), torch.eye(400))
    torch.testing.assert_close(s(torch.tensor([3, 1])), torch.eye(2))
    # L ~ N(0, 1) (not / sqrt(r)), scaled by alpha / r in S.
    assert abs(float(s.left.detach().std()) - 1.0) < 0.05 and s.scale == 3.0 / 10


def test_start_epochs_are_drawn_from_zero_to_max_start_epoch_exclusive():
    model, d = setup(True, False)
    d.s.max_start_epoch = 2
    bank = FakeBank(model)
    bank.snaps = bank.snaps + [bank.snaps[1], bank.snaps[1]]  # 4 snapshots: starts 0..2 reachable
    d.opt.step = lambda: None
    starts = {d.iteration(bank)["distill/start_epoch"] for _ in range(30)}
    assert starts == {0, 1}


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
    s = DistillSettings(syn_steps=1, batch_syn=6, max_start_epoch=1, symmetric=not train_encoder,
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


def test_weighted_bce_equals_the_reference_formula_on_a_hand_computed_case():
    import math

    # logits 0 -> p = 0.5 everywhere; S has one entry > 0.5 per row, one learned entry > 1.
    logits = torch.zeros(2, 2)
    s = torch.tensor([[1.2, 0.3], [0.6, 0.0]])
    # Positives (S > 0.5): (0,0) S=1.2 and (1,0) S=0.6; negatives (0,1) S=0.3, (1,1) S=0.
    # Each entry: -S log(0.5 + 1e-6) - (1 - S) log(0.5 + 1e-6) = -log(0.500001), whatever S
    # is (p = 0.5), so use a p != 0.5 too.
    lg = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    p = [[1 / (1 + math.exp(-v)) for v in row] for row in lg.tolist()]

    def entry(i, j):
        return -s[i, j].item() * math.log(p[i][j] + 1e-6) - (1 - s[i, j].item()) * math.log(
            1 - p[i][j] + 1e-6
        )

    pos = (entry(0, 0) + entry(1, 0)) / (2 + 1e-6)
    neg = (entry(0, 1) + entry(1, 1)) / (2 + 1e-6)
    assert abs(float(soft_bce_loss(lg, s)) - 0.5 * (pos + neg)) < 1e-6
    # No clamp: S = 1.2 is used as is (a clamped target would give another value).
    assert abs(float(soft_bce_loss(logits, s)) - (-math.log(0.5 + 1e-6))) < 1e-6
    # All-negative target: the positive mean is 0 (empty group), not NaN.
    assert math.isfinite(float(soft_bce_loss(lg, torch.zeros(2, 2))))


def test_step_sizes_at_the_floor_are_counted_and_reported():
    """An lr_lr far too large overshoots the step sizes past zero: they sit at the floor,
    the iterations there are counted and the final result names the branches."""
    torch.manual_seed(0)
    model = DualEncoder(6, 5, 4)
    g = torch.Generator().manual_seed(1)
    s = DistillSettings(iterations=4, syn_steps=2, batch_syn=8, max_start_epoch=1, lr_lr=10,
                        syn_lr_init=0.3, sim_rank=2, lr_img=0.1, lr_txt=0.1, lr_sim=0.1)  # fmt: skip
    d = Distiller(model, torch.randn(8, 6, generator=g), torch.randn(8, 5, generator=g), s, g)
    out = d.run(FakeBank(model))
    assert sum(out.floor_iterations.values()) >= 1
    floored = [b for b, v in out.step_sizes.items() if v == pytest.approx(STEP_SIZE_FLOOR)]
    assert out.at_floor() == floored

    calm = DistillSettings(iterations=2, syn_steps=2, batch_syn=8, max_start_epoch=1, lr_lr=0.0,
                           syn_lr_init=0.3, sim_rank=2, lr_img=0.1, lr_txt=0.1, lr_sim=0.1)  # fmt: skip
    d = Distiller(model, torch.randn(8, 6, generator=g), torch.randn(8, 5, generator=g), calm, g)
    out = d.run(FakeBank(model))
    assert out.floor_iterations == {"image": 0, "text": 0} and out.at_floor() == []
