"""M3Care's training step against a bare PyTorch implementation of the same arithmetic.

The bare version is written here from plain tensors (the module's weights stacked over
modalities, no nn.Module, no dicts): similarity kernels for all modalities and bandwidths in
one broadcast, the GCN and gates as batched matmuls, the two pre-norm transformer layers with
scaled_dot_product_attention. It is checked to give the module's z before timing. Both steps
are forward + head + cross-entropy + backward + Adam at batch 512, 4 modalities, 128-d
inputs (M3Care's published hidden width 256), on random embeddings; the two are timed
alternately (drift hits both alike) and the FLOPs of one step are counted with
torch.utils.flop_counter.

    python scripts/bench_m3care.py [--threads 1] [--repeats 10] [--missing 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from mmc.config.build import build
from mmc.models.model import make_head

CONF = Path(__file__).resolve().parents[1] / "conf" / "backbone" / "m3care.yaml"
KERNEL_MULTIPLIERS = (0.5, 1.0, 2.0)


def stacked_weights(model, head) -> dict[str, torch.Tensor]:
    """The module's parameters as plain leaf tensors, per-modality ones stacked [M, ...]."""
    mods = model.modalities

    def stack(fmt):
        return torch.stack([model.get_parameter(fmt.format(m)) for m in mods]).detach().clone()

    w = {"mix": model.mix.detach().clone(), "threshold": model.threshold.detach().clone()}
    for name, path in [("inp", "inputs.{}"), ("p0", "sim_proj.{}.0"), ("p1", "sim_proj.{}.2"),
                       ("p2", "sim_proj.{}.4"), ("g1", "gcn1.{}"), ("g2", "gcn2.{}"),
                       ("gs", "gate_self.{}"), ("go", "gate_other.{}")]:  # fmt: skip
        w[name + "_w"], w[name + "_b"] = stack(path + ".weight"), stack(path + ".bias")
    w["tok"] = model.token_type.weight.detach().clone()
    for i, layer in enumerate(model.transformer):
        for k, v in layer.named_parameters():
            w[f"t{i}.{k}"] = v.detach().clone()
    w["fn_w"], w["fn_b"] = model.final_norm.weight.detach().clone(), model.final_norm.bias.detach()
    for k, v in head.named_parameters():
        w[f"head.{k}"] = v.detach().clone()
    return {k: v.clone().requires_grad_() for k, v in w.items()}


def lin(x, w, b):  # x [M, B, in], w [M, out, in]
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def standardize(x, rows, eps=1e-5):
    w = rows.unsqueeze(-1).float()
    n = w.sum(1, keepdim=True).clamp_min(1)
    mean = (x * w).sum(1, keepdim=True) / n
    var = (((x - mean) ** 2) * w).sum(1, keepdim=True) / n
    return (x - mean) / (var + eps).sqrt()


def kernel(x, pairs, eye):
    sq = (x * x).sum(-1)
    d2 = torch.baddbmm(sq[:, :, None] + sq[:, None, :], x, x.transpose(1, 2), alpha=-2).clamp_min(0)
    off = pairs & ~eye
    bw = ((d2 * off).sum((1, 2)) / off.sum((1, 2)).clamp_min(1)).detach().clamp_min(1e-6)
    k = torch.tensor(KERNEL_MULTIPLIERS)
    return torch.exp(-d2[None] / (k[:, None, None, None] * bw[None, :, None, None])).sum(0)


def encoder_layer(x, w, i, heads, pad):
    p = f"t{i}."
    B, M, H = x.shape
    h = F.layer_norm(x, (H,), w[p + "norm1.weight"], w[p + "norm1.bias"])
    qkv = F.linear(h, w[p + "self_attn.in_proj_weight"], w[p + "self_attn.in_proj_bias"])
    q, k, v = qkv.view(B, M, 3, heads, H // heads).permute(2, 0, 3, 1, 4)
    att = F.scaled_dot_product_attention(q, k, v, attn_mask=~pad[:, None, None, :])
    att = att.transpose(1, 2).reshape(B, M, H)
    x = x + F.linear(att, w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"])
    h = F.layer_norm(x, (H,), w[p + "norm2.weight"], w[p + "norm2.bias"])
    h = F.linear(F.relu(F.linear(h, w[p + "linear1.weight"], w[p + "linear1.bias"])),
                 w[p + "linear2.weight"], w[p + "linear2.bias"])  # fmt: skip
    return x + h


def bare_forward(w, emb, observed, heads, receive_if_missing=True):
    """emb [M, B, d], observed [M, B] -> (z [B, M*H], stability term)."""
    obs = observed.unsqueeze(-1)
    h = torch.where(obs, lin(emb, w["inp_w"], w["inp_b"]), 0.0)
    proj = lin(F.relu(lin(F.relu(lin(h, w["p0_w"], w["p0_b"])), w["p1_w"], w["p1_b"])),
               w["p2_w"], w["p2_b"])  # fmt: skip
    pairs = observed[:, None, :] & observed[:, :, None]
    eye = torch.eye(emb.shape[1], dtype=torch.bool)
    mix = torch.sigmoid(w["mix"])[:, None, None]
    sim = mix * kernel(standardize(h, observed), pairs, eye) + (1 - mix) * kernel(
        standardize(F.relu(proj), observed), pairs, eye
    )
    avg = (sim * pairs).sum(0) / pairs.sum(0).clamp_min(1)
    t = torch.sigmoid(w["threshold"])
    above = F.relu(avg - t)
    sim = above + (above > 0).float() * t.detach()
    adj = sim[None] * observed[:, None, :].float()
    if not receive_if_missing:
        adj = adj * observed[:, :, None].float()
    adj = adj / adj.sum(-1, keepdim=True).clamp_min(1e-12)
    has_nb = adj.sum(-1, keepdim=True) > 0
    g = F.relu(torch.bmm(adj, lin(h, w["g1_w"], w["g1_b"])))
    g = F.relu(torch.bmm(adj, lin(g, w["g2_w"], w["g2_b"])))
    ws = torch.sigmoid(lin(h, w["gs_w"], w["gs_b"]))
    wo = torch.sigmoid(lin(g, w["go_w"], w["go_b"]))
    ws = ws / (ws + wo)
    tokens = torch.where(obs, ws * h + (1 - ws) * g, torch.where(has_nb, g, 0.0))
    valid = (obs | has_nb).squeeze(-1).T  # [B, M]
    x = tokens.transpose(0, 1) + w["tok"][None]
    empty = ~valid.any(1)
    pad = ~valid & ~empty[:, None]
    for i, n_heads in enumerate(heads):
        x = encoder_layer(x, w, i, n_heads, pad)
    x = F.layer_norm(x, (x.shape[-1],), w["fn_w"], w["fn_b"])
    z = torch.where(valid[..., None], x, 0.0).flatten(1)
    gap = (proj.norm(dim=-1) - h.norm(dim=-1)).abs()
    stability = ((gap * observed).sum(1) / observed.sum(1).clamp_min(1)).sum()
    return z, stability


def bare_head(w, z):
    hid = F.relu(F.linear(z, w["head.0.weight"], w["head.0.bias"]))
    return F.linear(hid, w["head.3.weight"], w["head.3.bias"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--mods", type=int, default=4)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--missing", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--before", action="store_true", help="time the pre-vectorisation module "
                   "kept in tests/backbones/reference/ instead of mmc's")  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    names = [f"m{i}" for i in range(args.mods)]
    node = OmegaConf.load(CONF)
    model = build(node, "backbone", modalities=names, dim=args.dim, num_outputs=10).train()
    if args.before:
        import sys

        sys.path.insert(0, str(CONF.parents[2]))
        from tests.backbones.reference.m3care_before import M3Care as Before

        kwargs = {k: v for k, v in OmegaConf.to_container(node).items() if k != "_target_"}
        before = Before(names, args.dim, 10, **kwargs).train()
        before.load_state_dict(model.state_dict())
        model = before
    head = make_head(model.out_dim, 64, 10)
    w = stacked_weights(model, head)
    heads = list(node.heads)
    B = args.batch
    mask = {m: torch.rand(B) >= args.missing for m in names}
    mask[names[0]] |= ~torch.stack(list(mask.values()), 1).any(1)
    emb = {m: torch.where(mask[m][:, None], torch.randn(B, args.dim), 0.0) for m in names}
    y = torch.randint(0, 10, (B,))
    emb_stacked, observed = torch.stack([emb[m] for m in names]), torch.stack(list(mask.values()))

    with torch.no_grad():
        z_mod = model(emb, mask, None).z
        z_bare, _ = bare_forward(w, emb_stacked, observed, heads)
    diff = float((z_mod - z_bare).abs().max())

    opt_mod = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-4, foreach=True)
    opt_bare = torch.optim.Adam(list(w.values()), lr=1e-4, foreach=True)

    def step_module():
        e = {m: t.clone().requires_grad_() for m, t in emb.items()}
        out = model(e, mask, object())  # any non-None batch: the stability term is added
        loss = F.cross_entropy(head(out.z), y) + sum(out.losses.values())
        opt_mod.zero_grad(set_to_none=True)
        loss.backward()
        opt_mod.step()

    def step_bare():
        e = emb_stacked.clone().requires_grad_()
        z, stability = bare_forward(w, e, observed, heads)
        loss = F.cross_entropy(bare_head(w, z), y) + model.stability_weight * stability
        opt_bare.zero_grad(set_to_none=True)
        loss.backward()
        opt_bare.step()

    flops = {}
    for name, fn in (("module", step_module), ("bare", step_bare)):
        fn()
        with FlopCounterMode(display=False) as counter:
            fn()
        flops[name] = counter.get_total_flops()
    times = {"module": [], "bare": []}
    for r in range(args.repeats):
        order = [("module", step_module), ("bare", step_bare)]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"batch {B}, {args.mods} modalities, {args.dim}-d, missing {args.missing}, "
          f"{args.threads} thread(s), load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"module: {'before (tests/backbones/reference)' if args.before else 'mmc'}")
    print(f"bare forward == module forward: max |z diff| {diff:.2e}")
    for k in ("module", "bare"):
        print(f"{k:7s} step {med[k] * 1e3:8.1f} ms   {flops[k] / 1e9:6.2f} GFLOP   "
              f"{flops[k] / med[k] / 1e9:6.1f} GFLOP/s")  # fmt: skip
    print(f"ratio module / bare  {med['module'] / med['bare']:.2f}  (target <= 3)")


if __name__ == "__main__":
    main()
