"""Encoders and heads of ``hetero_twostage``: a heterogeneous GNN (or its graph-free MLP twin), two heads.

The GNN v6 report's model: employees, positions and departments in one heterogeneous graph, a turnover head on
employee embeddings and a preference head scoring (employee, position) pairs. Here the graph is encoded by
``num_layers`` :class:`~torch_geometric.nn.HeteroConv` layers, each holding one SAGE (mean of neighbours plus
a root term) or GAT (attention over neighbours) convolution per edge type, summed per destination node type.
Every relation has its reverse, so every node type is updated in every layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GATConv, HeteroConv, SAGEConv

from trainables.hetero_twostage.data import HeteroTaskData

EdgeType = tuple[str, str, str]
NODE_TYPES = ("employee", "position", "department")


def edge_index_dict(data: HeteroTaskData) -> dict[EdgeType, torch.Tensor]:
    """Edges of the HR graph, each relation with its reverse: ``works_in``, ``reports_to``, ``belongs_to``.

    Preferences are *not* edges: the preference task is evaluated on held-out pairs, and training preference
    edges in the graph would let a position's embedding carry its training labels.
    """
    emp = torch.arange(data.num_employees)
    pos = torch.arange(data.num_positions)
    has_mgr = data.manager >= 0
    works = torch.stack([emp, data.emp_dept])  # [2, E]
    reports = torch.stack([emp[has_mgr], data.manager[has_mgr]])  # [2, E'] report -> manager
    belongs = torch.stack([pos, data.pos_dept])  # [2, P]
    return {
        ("employee", "works_in", "department"): works,
        ("department", "employs", "employee"): works.flip(0),
        ("employee", "reports_to", "employee"): reports,
        ("employee", "manages", "employee"): reports.flip(0),
        ("position", "belongs_to", "department"): belongs,
        ("department", "offers", "position"): belongs.flip(0),
    }


class HeteroEncoder(nn.Module):
    """Per-type input projection, then ``num_layers`` of message passing (or none, for the MLP baseline).

    Args:
        in_dims: input feature size of each node type.
        hidden: embedding width ``d``.
        num_layers: message-passing layers (hops); 2 reach colleagues through their department.
        conv: ``"sage"`` or ``"gat"``.
        dropout: dropout after every layer.
        edge_types: relations to build convolutions for; ``None`` or empty gives the graph-free MLP encoder
            (``num_layers`` per-type linear layers), the report's "MLP without the graph" baseline.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        hidden: int,
        num_layers: int,
        conv: str,
        dropout: float,
        edge_types: list[EdgeType] | None,
    ) -> None:
        super().__init__()
        self.inputs = nn.ModuleDict({t: nn.Linear(d, hidden) for t, d in in_dims.items()})
        self.dropout = nn.Dropout(dropout)
        self.graph = bool(edge_types)
        if self.graph:
            assert edge_types is not None
            self.layers = nn.ModuleList(
                HeteroConv({e: self._conv(conv, hidden) for e in edge_types}, aggr="sum")
                for _ in range(num_layers)
            )
        else:
            self.layers = nn.ModuleList(
                nn.ModuleDict({t: nn.Linear(hidden, hidden) for t in in_dims}) for _ in range(num_layers)
            )

    @staticmethod
    def _conv(kind: str, hidden: int) -> nn.Module:
        if kind == "gat":
            return GATConv((hidden, hidden), hidden, heads=1, add_self_loops=False)
        return SAGEConv((hidden, hidden), hidden)

    def forward(
        self, x: dict[str, torch.Tensor], edges: dict[EdgeType, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        h = {t: torch.relu(self.inputs[t](v)) for t, v in x.items()}  # each [N_t, d]
        for layer in self.layers:
            if self.graph:
                out = layer(h, edges)
            else:
                out = {t: layer[t](v) for t, v in h.items()}
            h = {
                t: self.dropout(torch.relu(out[t])) + h[t] for t in h
            }  # residual keeps each node's own features
        return h


class TurnoverHead(nn.Module):
    """Employee embedding ``[E, d]`` -> turnover logit ``[E]``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h).squeeze(-1)


class PreferenceHead(nn.Module):
    """(employee, position) pair scores: ``concat`` (MLP on ``[h_e, h_p]``) or ``dot`` (``<W h_e, h_p>``).

    The report's next steps ask "dot vs concat": ``dot`` can only express a similarity in a learned space;
    ``concat`` can express any interaction but must learn the match from data.
    """

    def __init__(self, hidden: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode == "dot":
            self.proj = nn.Linear(hidden, hidden, bias=False)
        else:
            self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, h_emp: torch.Tensor, h_pos: torch.Tensor) -> torch.Tensor:
        """``h_emp [..., d]`` and ``h_pos [..., d]`` (broadcastable) -> scores ``[...]``."""
        if self.mode == "dot":
            return (self.proj(h_emp) * h_pos).sum(-1) / h_pos.size(-1) ** 0.5
        h_emp, h_pos = torch.broadcast_tensors(h_emp, h_pos)
        return self.mlp(torch.cat([h_emp, h_pos], dim=-1)).squeeze(-1)


class TwoTaskNet(nn.Module):
    """Encoder + turnover head + preference head."""

    def __init__(
        self,
        in_dims: dict[str, int],
        hidden: int,
        num_layers: int,
        conv: str,
        dropout: float,
        edge_types: list[EdgeType] | None,
        pref_head: str,
    ) -> None:
        super().__init__()
        self.encoder = HeteroEncoder(in_dims, hidden, num_layers, conv, dropout, edge_types)
        self.turnover = TurnoverHead(hidden)
        self.preference = PreferenceHead(hidden, pref_head)

    def forward(
        self, x: dict[str, torch.Tensor], edges: dict[EdgeType, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return self.encoder(x, edges)

    def score_all(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[E, P]`` preference scores of every employee for every position."""
        return self.preference(h["employee"].unsqueeze(1), h["position"].unsqueeze(0))
