import torch

from mmc.remedies.grl import reverse_grad
from tests.options import SMALL_EBR


def test_reverse_grad_is_identity_forward_and_negated_scaled_backward():
    x = torch.randn(5, 3, requires_grad=True)
    y = reverse_grad(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.5 * torch.arange(3.0).expand(5, 3))


def test_ebr_modality_loss_flips_encoder_gradient_but_not_discriminator(tiny_model):
    cfg, data, model, _ = tiny_model("remedy=ebr", *SMALL_EBR, "remedy.alpha=1.0")
    remedy = model.remedy
    batch = data.train.batch(slice(0, 64))
    assert remedy.adversarial(0)

    def grads(loss_fn):
        model.zero_grad(set_to_none=True)
        out = model(batch)
        loss_fn(out).backward()
        pick = {
            "enc": model.encoders["m0"],
            "head": remedy.heads["m1"],
            "disc": remedy.discriminator,
        }
        return {
            k: torch.cat([p.grad.flatten() for p in mod.parameters()]) for k, mod in pick.items()
        }

    reversed_ = grads(lambda out: remedy.losses(out, batch, 0)["ebr_modality"])
    plain = grads(lambda out: remedy.modality_loss(reverse=False))
    for k in ("enc", "head"):  # the modality loss is maximised by encoders and heads h_i
        assert reversed_[k].abs().sum() > 0
        assert torch.allclose(reversed_[k], -plain[k], atol=1e-6)
    # ... and minimised by the discriminator
    assert torch.allclose(reversed_["disc"], plain["disc"], atol=1e-6)
