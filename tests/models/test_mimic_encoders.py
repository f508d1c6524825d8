"""Encoders of the MIMIC modalities: the lab-sequence GRU and the two-representation code encoder."""

import torch

from mmc.data.batch import ModalitySpec
from mmc.models.codes import CodeEncoder
from mmc.models.encoders import EmbeddingBagEncoder, MLPEncoder
from mmc.models.sequence import GRUEncoder


def test_gru_reads_time_order_and_learns_a_sequence_task():
    torch.manual_seed(0)
    enc = GRUEncoder(ModalitySpec(shape=(10, 3)), out_dim=8, hidden=16)
    x = torch.randn(4, 10, 3)
    assert enc(x).shape == (4, 8)
    assert not torch.allclose(enc(x), enc(x.flip(1)))  # order matters, unlike a bag
    # Label = sign of the *last* step's first feature: needs the recurrence, trains in a few steps.
    x = torch.randn(256, 10, 3)
    y = (x[:, -1, 0] > 0).float()
    head = torch.nn.Linear(8, 1)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(enc(x)).squeeze(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = ((head(enc(x)).squeeze(-1) > 0).float() == y).float().mean()
    assert acc > 0.9


def test_code_encoder_picks_embedding_for_ids_and_mlp_for_vectors():
    ids = CodeEncoder(ModalitySpec(shape=(50,), dtype=torch.long, vocab_size=30), out_dim=8)
    vec = CodeEncoder(ModalitySpec(shape=(384,)), out_dim=8)
    assert isinstance(ids.net, EmbeddingBagEncoder) and isinstance(vec.net, MLPEncoder)
    codes = torch.zeros(2, 50, dtype=torch.long)
    codes[0, -3:] = torch.tensor([5, 6, 7])
    out = ids(codes)
    assert out.shape == (2, 8) and not torch.allclose(out[0], out[1])
    assert vec(torch.randn(2, 384)).shape == (2, 8)
