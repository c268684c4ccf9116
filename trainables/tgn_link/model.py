"""The TGN network of :mod:`trainables.tgn_link`, built from torch-geometric's TGN pieces.

Rossi et al., "Temporal Graph Networks for Deep Learning on Dynamic Graphs" (2020), as in torch-geometric's
``examples/tgn.py``: a :class:`~torch_geometric.nn.TGNMemory` (identity message, last-message aggregator, GRU
update), a one-layer graph-attention embedding (:class:`~torch_geometric.nn.TransformerConv` over the most recent
neighbours from :class:`~torch_geometric.nn.models.tgn.LastNeighborLoader`, edges carrying the time encoding and the
raw message) and an MLP link predictor. Sources and destinations share one node space: destination ``d`` is node
``num_src + d``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import TGNMemory, TransformerConv
from torch_geometric.nn.models.tgn import IdentityMessage, LastAggregator, LastNeighborLoader, TimeEncoder


class GraphAttentionEmbedding(nn.Module):
    """Node embedding = attention over the node's last neighbours, edges encoded by (Δt, message)."""

    def __init__(self, in_channels: int, out_channels: int, msg_dim: int, time_enc: TimeEncoder) -> None:
        super().__init__()
        self.time_enc = time_enc
        heads = 2
        self.conv = TransformerConv(
            in_channels,
            out_channels // heads,
            heads=heads,
            dropout=0.0,  # no dropout: all randomness stays in the trainable's own generator
            edge_dim=msg_dim + time_enc.out_channels,
        )

    def forward(
        self,
        x: torch.Tensor,  # [n, memory_dim]
        last_update: torch.Tensor,  # [n]
        edge_index: torch.Tensor,  # [2, e]
        t: torch.Tensor,  # [e]
        msg: torch.Tensor,  # [e, msg_dim]
    ) -> torch.Tensor:  # [n, embedding_dim]
        rel_t = last_update[edge_index[0]] - t
        edge_attr = torch.cat([self.time_enc(rel_t.to(x.dtype)), msg], dim=-1)
        return self.conv(x, edge_index, edge_attr)


class LinkPredictor(nn.Module):
    """``score(s, d) = w · relu(A z_s + B z_d) + b``; :meth:`score_all` scores a full grid in chunks."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.lin_src = nn.Linear(channels, channels)
        self.lin_dst = nn.Linear(channels, channels)
        self.lin_final = nn.Linear(channels, 1)

    def forward(self, z_src: torch.Tensor, z_dst: torch.Tensor) -> torch.Tensor:
        """``[B, d], [B, d] -> [B]`` logits."""
        return self.lin_final((self.lin_src(z_src) + self.lin_dst(z_dst)).relu()).squeeze(-1)

    @torch.no_grad()
    def score_all(self, z_src: torch.Tensor, z_dst: torch.Tensor, chunk_pairs: int = 4096) -> torch.Tensor:
        """Logits of every (source, destination) pair: ``[S, d], [D, d] -> [S, D]``.

        The two linear maps are applied once per node, not per pair; the ``[rows, D, d]`` hidden layer is built
        ``chunk_pairs`` pairs at a time, so memory stays bounded for any grid size. Small chunks that stay in cache
        are ~10x faster than large ones on CPU (``python -m benchmarks.tgn_kernels``).
        """
        a = self.lin_src(z_src)  # [S, d]
        b = self.lin_dst(z_dst)  # [D, d]
        w = self.lin_final.weight.squeeze(0)  # [d]
        rows = max(1, chunk_pairs // max(1, b.size(0)))
        out = [
            (a[i : i + rows].unsqueeze(1) + b.unsqueeze(0)).relu_() @ w  # [rows, D]
            for i in range(0, a.size(0), rows)
        ]
        return torch.cat(out, dim=0) + self.lin_final.bias


class TGN(nn.Module):
    """Memory + graph-attention embedding + link predictor, with the neighbour loader beside them."""

    def __init__(
        self,
        num_nodes: int,
        msg_dim: int,
        memory_dim: int,
        time_dim: int,
        embedding_dim: int,
        num_neighbors: int,
        device: torch.device,
    ) -> None:
        super().__init__()
        self.memory = TGNMemory(
            num_nodes,
            msg_dim,
            memory_dim,
            time_dim,
            message_module=IdentityMessage(msg_dim, memory_dim, time_dim),
            aggregator_module=LastAggregator(),
        )
        self.gnn = GraphAttentionEmbedding(memory_dim, embedding_dim, msg_dim, self.memory.time_enc)
        self.predictor = LinkPredictor(embedding_dim)
        self.neighbors = LastNeighborLoader(num_nodes, size=num_neighbors, device=device)
        self.neighbors.neighbors.zero_()  # slots with e_id < 0 are ignored; zeros keep snapshots deterministic
        self.register_buffer("_assoc", torch.empty(num_nodes, dtype=torch.long), persistent=False)

    def reset_state(self) -> None:
        """Forget every event: empty memory, message store and neighbour lists (start of a training epoch)."""
        self.memory.reset_state()
        self.neighbors.reset_state()

    def embed(
        self, n_id: torch.Tensor, event_t: torch.Tensor, event_msg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings of nodes ``n_id`` from memory and their last neighbours.

        ``event_t`` / ``event_msg`` are the timestamps and messages of *all* events, indexed by the neighbour
        loader's event ids. Returns ``(z [len(all_ids), embedding_dim], assoc)`` where ``z[assoc[n]]`` is node
        ``n``'s embedding.
        """
        all_id, edge_index, e_id = self.neighbors(n_id)
        self._assoc[all_id] = torch.arange(all_id.numel(), device=all_id.device)
        mem, last_update = self.memory(all_id)  # [n, memory_dim], [n]
        z = self.gnn(mem, last_update, edge_index, event_t[e_id], event_msg[e_id])
        return z, self._assoc

    def observe(self, src: torch.Tensor, dst: torch.Tensor, t: torch.Tensor, msg: torch.Tensor) -> None:
        """Feed events (node ids in the shared space) to memory and neighbour lists, after they were predicted."""
        self.memory.update_state(src, dst, t, msg)
        self.neighbors.insert(src, dst)

    def snapshot(self) -> dict[str, torch.Tensor | int]:
        """The event state (memory and neighbour lists) as plain tensors; the message store must be empty."""
        return {
            "memory": self.memory.memory.detach().clone(),
            "last_update": self.memory.last_update.clone(),
            "neighbors": self.neighbors.neighbors.clone(),
            "e_id": self.neighbors.e_id.clone(),
            "cur_e_id": int(self.neighbors.cur_e_id),
        }

    def restore(self, snap: dict[str, torch.Tensor | int]) -> None:
        """Inverse of :meth:`snapshot` (also empties the message store)."""
        self.memory.reset_state()
        self.memory.memory.copy_(snap["memory"])
        self.memory.last_update.copy_(snap["last_update"])
        self.neighbors.neighbors.copy_(snap["neighbors"])
        self.neighbors.e_id.copy_(snap["e_id"])
        self.neighbors.cur_e_id = int(snap["cur_e_id"])
