"""The hybrid's three parts: SASRec, the user–item graph encoder (LightGCN or GAT) and the fusion weight α.

The final score of item ``i`` for user ``u`` is ``α(u) · SASRec(u, i) + (1 - α(u)) · GNN(u, i)``, so α = 1 is
SASRec alone and α = 0 the GNN alone, from the same code.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GATConv, LightGCN
from torch_geometric.nn.conv.gcn_conv import gcn_norm

#: the α clamp of the seed's adaptive fusions: neither component is ever switched off completely.
ALPHA_MIN, ALPHA_MAX = 0.1, 0.9
#: history lengths at which the piecewise fusion learns α (the seed's bins).
PIECEWISE_KNOTS = (5.0, 15.0, 30.0, 60.0)


class SASRec(nn.Module):
    """Self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

    Item embeddings plus learned positional embeddings go through ``num_blocks`` pre-norm Transformer blocks with
    causal attention; the hidden state at position ``t`` scores the item at ``t + 1`` by a dot product with the
    (shared) item embedding. Sequences are left-padded with item id 0 (real items are shifted by one); padded keys
    are masked, and every position may attend to itself so that fully padded rows stay finite.
    """

    def __init__(
        self, num_items: int, dim: int, max_len: int, num_heads: int, num_blocks: int, dropout: float
    ):
        super().__init__()
        self.num_heads = num_heads
        self.item_emb = nn.Embedding(num_items + 1, dim, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, dim_feedforward=dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.item_emb.weight, std=dim**-0.5)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """``seq [B, L]`` shifted item ids (0 = padding) → hidden states ``[B, L, d]``."""
        batch, length = seq.shape
        pad = seq == 0  # [B, L]
        positions = torch.arange(length, device=seq.device)
        x = self.item_emb(seq) * self.item_emb.embedding_dim**0.5 + self.pos_emb(positions)  # [B, L, d]
        x = self.dropout(x) * (~pad).unsqueeze(-1)
        causal = positions.unsqueeze(0) > positions.unsqueeze(1)  # [L, L] True = blocked (future key)
        blocked = causal.unsqueeze(0) | pad.unsqueeze(1)  # [B, L, L]
        blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=seq.device)
        mask = blocked.repeat_interleave(self.num_heads, dim=0)  # [B * H, L, L]
        return self.norm(self.encoder(x, mask=mask))

    def item_table(self) -> torch.Tensor:
        """``[I, d]`` output embeddings of the real items (row ``i`` = item ``i``)."""
        return self.item_emb.weight[1:]


class GraphEncoder(nn.Module):
    """User–item graph encoder: ``num_users + num_items`` nodes, one undirected edge per training interaction.

    ``lightgcn`` is torch-geometric's :class:`~torch_geometric.nn.models.LightGCN` (He et al., SIGIR 2020): linear
    propagation with symmetric normalisation (computed once here) and the mean of the layer outputs. ``gat`` is
    the seed's attention variant: learned node embeddings through :class:`~torch_geometric.nn.GATConv` layers (4
    heads averaged) with ELU between layers. Users' and items' scores are dot products of the final embeddings.
    """

    def __init__(
        self,
        kind: Literal["lightgcn", "gat"],
        num_users: int,
        num_items: int,
        dim: int,
        num_layers: int,
        edge_index: torch.Tensor,
    ):
        super().__init__()
        self.kind = kind
        self.num_users = num_users
        num_nodes = num_users + num_items
        self.register_buffer("edge_index", edge_index, persistent=False)  # [2, E]
        if kind == "lightgcn":
            self.lightgcn = LightGCN(num_nodes, dim, num_layers, normalize=False)
            _, weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=False)
            self.register_buffer("edge_weight", weight, persistent=False)  # [E]
            nn.init.normal_(self.lightgcn.embedding.weight, std=0.1)
        else:
            self.embedding = nn.Embedding(num_nodes, dim)
            nn.init.normal_(self.embedding.weight, std=0.1)
            self.convs = nn.ModuleList([GATConv(dim, dim, heads=4, concat=False) for _ in range(num_layers)])

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(users [U, d], items [I, d])`` final embeddings."""
        if self.kind == "lightgcn":
            x = self.lightgcn.get_embedding(self.edge_index, self.edge_weight)  # [U + I, d]
        else:
            x = self.embedding.weight
            for layer, conv in enumerate(self.convs):
                x = conv(x, self.edge_index)
                if layer + 1 < len(self.convs):
                    x = F.elu(x)
        return x[: self.num_users], x[self.num_users :]


class Fusion(nn.Module):
    """The fusion weight α of SASRec per user, as a function of the user's history length (the seed's variants).

    * ``fixed``: α from the config for everybody (α may be 0 or 1: the single-model baselines).
    * ``learnable``: one α per history group (short ≤ ``short_max`` < medium < ``long_min`` ≤ long), initialised
      0.4 / 0.5 / 0.6 and clamped to [0.1, 0.9]; :meth:`penalty` is the seed's L2 term on the three raw values.
    * ``continuous``: ``clamp(sigmoid(w · log(L + 1) + b) · scale + offset, 0.1, 0.9)`` with the seed's init
      w = -0.1, b = 1.5, scale = 0.4, offset = 0.5 (all four learned).
    * ``piecewise``: linear interpolation between α learned at lengths 5 / 15 / 30 / 60 (init 0.3 / 0.4 / 0.5 /
      0.6), constant beyond the end knots, clamped to [0.1, 0.9].
    """

    def __init__(
        self,
        kind: Literal["fixed", "learnable", "continuous", "piecewise"],
        alpha: float,
        short_max: int,
        long_min: int,
        l2: float,
    ):
        super().__init__()
        self.kind = kind
        self.alpha = alpha
        self.l2 = l2
        self.register_buffer("bounds", torch.tensor([short_max, long_min - 1]), persistent=False)
        self.register_buffer("knots", torch.tensor(PIECEWISE_KNOTS), persistent=False)
        if kind == "learnable":
            self.group_alpha = nn.Parameter(torch.tensor([0.4, 0.5, 0.6]))
        elif kind == "continuous":
            self.curve = nn.Parameter(torch.tensor([-0.1, 1.5, 0.4, 0.5]))  # w, b, scale, offset
        elif kind == "piecewise":
            self.knot_alpha = nn.Parameter(torch.tensor([0.3, 0.4, 0.5, 0.6]))

    def groups(self, lengths: torch.Tensor) -> torch.Tensor:
        """``[B]`` history group of each length: 0 short, 1 medium, 2 long."""
        return torch.bucketize(lengths, self.bounds.to(lengths.dtype), right=False)

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        """``lengths [B]`` history lengths → ``α [B]``."""
        if self.kind == "fixed":
            return torch.full(lengths.shape, self.alpha, device=lengths.device)
        if self.kind == "learnable":
            return self.group_alpha.clamp(ALPHA_MIN, ALPHA_MAX)[self.groups(lengths)]
        length = lengths.float()
        if self.kind == "continuous":
            w, b, scale, offset = self.curve
            return (torch.sigmoid(w * torch.log(length + 1) + b) * scale + offset).clamp(ALPHA_MIN, ALPHA_MAX)
        knots = self.knots
        right = torch.bucketize(length, knots).clamp(1, knots.numel() - 1)  # [B] upper knot of the segment
        t = ((length - knots[right - 1]) / (knots[right] - knots[right - 1])).clamp(0.0, 1.0)
        values = self.knot_alpha
        return ((1 - t) * values[right - 1] + t * values[right]).clamp(ALPHA_MIN, ALPHA_MAX)

    def penalty(self) -> torch.Tensor:
        """The L2 penalty added to the loss (only the ``learnable`` variant has one, as in the seed)."""
        if self.kind == "learnable":
            return self.l2 * self.group_alpha.pow(2).sum()
        return torch.zeros(())

    @property
    def adaptive(self) -> bool:
        return self.kind != "fixed"
