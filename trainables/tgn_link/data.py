"""Temporal bipartite link data for :mod:`trainables.tgn_link`: a synthetic generator and a JODIE CSV loader.

Both return a :class:`TemporalLinks`: events sorted by time and split chronologically 70/15/15, sources and
destinations in separate id spaces (``0 .. num_src - 1`` and ``0 .. num_dst - 1``), an edge message per event and
static node features (the seed's "secteur, taille, année de fondation", which the post-mortem found too weak).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.common.data import chronological_split
from trainables.protocol import DataError


@dataclass
class TemporalLinks:
    """A chronologically sorted stream of source→destination events.

    Attributes:
        src, dst: ``[E]`` long ids (source and destination id spaces are separate).
        t: ``[E]`` long timestamps, non-decreasing.
        msg: ``[E, m]`` float edge features (the TGN raw message).
        src_feat, dst_feat: ``[num_src, f]`` and ``[num_dst, f]`` static node features.
        n_train, n_val: the first ``n_train`` events are training, the next ``n_val`` validation, the rest test.
    """

    src: torch.Tensor
    dst: torch.Tensor
    t: torch.Tensor
    msg: torch.Tensor
    src_feat: torch.Tensor
    dst_feat: torch.Tensor
    num_src: int
    num_dst: int
    n_train: int
    n_val: int

    def split_range(self, split: str) -> tuple[int, int]:
        """``(start, stop)`` event indices of ``"train"``, ``"val"`` or ``"test"``."""
        bounds = {
            "train": (0, self.n_train),
            "val": (self.n_train, self.n_train + self.n_val),
            "test": (self.n_train + self.n_val, self.src.numel()),
        }
        if split not in bounds:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(bounds)}")
        return bounds[split]


def _finish(
    src: torch.Tensor,
    dst: torch.Tensor,
    t: torch.Tensor,
    msg: torch.Tensor,
    src_feat: torch.Tensor,
    dst_feat: torch.Tensor,
    num_src: int,
    num_dst: int,
) -> TemporalLinks:
    """Sort by time (stable) and split 70/15/15 chronologically."""
    train, val, _ = chronological_split(t.double())
    order = torch.argsort(t, stable=True)
    return TemporalLinks(
        src=src[order].contiguous(),
        dst=dst[order].contiguous(),
        t=t[order].contiguous(),
        msg=msg[order].contiguous(),
        src_feat=src_feat,
        dst_feat=dst_feat,
        num_src=num_src,
        num_dst=num_dst,
        n_train=train.numel(),
        n_val=val.numel(),
    )


def generate_synthetic(
    num_src: int,
    num_dst: int,
    num_events: int,
    num_communities: int,
    drift_steps: int,
    repeat_prob: float,
    feature_signal: float,
    feat_dim: int,
    msg_dim: int,
    seed: int,
) -> TemporalLinks:
    """A temporal bipartite graph in which memory, hard-negative source and temperature all matter.

    What is planted, and why:

    * **Communities with drifting preferences.** Sources and destinations belong to ``num_communities``
      communities. At time fraction ``φ`` a source of community ``c`` prefers destination community
      ``c + floor(φ · drift_steps)`` (blending into the next one), so what a source liked in the training period
      is not what it likes at test time: only a model with *temporal* state (the TGN memory) can follow it.
      Negatives similar in memory or in the graph come from the source's current community: hard, but also the
      likeliest future positives (false negatives) — which of the two effects wins is what the search measures.
    * **Popularity inside a community** (Zipf) and **repeat links** (``repeat_prob``): destinations seen recently
      are likely again, the signal that makes a TGN beat random by a wide margin.
    * **Weak static features.** Node features are ``feature_signal ×`` a community code plus unit noise, so
      similarity of static features is only weakly related to who links with whom — the condition under which
      the seed found static-feature hard negatives harmful (``hard_neg_source=static`` vs ``temporal``/``graph``).
    * **Rare positives.** Every (source, destination) pair of a period is a candidate, so positives make up at
      most ``0.15 · num_events / (num_src · num_dst)`` of the ranking space (repeated pairs count once): 0.07% with
      the defaults (the seed had 0.03%).
    """
    g = torch.Generator().manual_seed(seed)
    src_comm = torch.randint(num_communities, (num_src,), generator=g)
    dst_comm = torch.randint(num_communities, (num_dst,), generator=g)
    code = torch.randn(num_communities, feat_dim, generator=g)
    src_feat = feature_signal * code[src_comm] + torch.randn(num_src, feat_dim, generator=g)
    dst_feat = feature_signal * code[dst_comm] + torch.randn(num_dst, feat_dim, generator=g)

    # destination popularity: Zipf rank inside the node's community, as sampling weights
    within = torch.rand(num_dst, generator=g).argsort().argsort().float()  # random rank among all
    popularity = 1.0 / (1.0 + within / max(1.0, num_dst / num_communities)) ** 2  # [D]
    comm_onehot = torch.nn.functional.one_hot(dst_comm, num_communities).float()  # [D, C]
    comm_weights = comm_onehot.t() * popularity.unsqueeze(0)  # [C, D]
    comm_weights = comm_weights + (comm_weights.sum(1, keepdim=True) == 0).float()  # empty community: uniform

    activity = torch.rand(num_src, generator=g).pow(3) + 0.05  # a few very active sources
    src = torch.multinomial(activity, num_events, replacement=True, generator=g)  # [E]
    t = torch.sort(torch.randint(0, 100 * num_events, (num_events,), generator=g)).values  # [E]
    phase = t.double() / (100 * num_events) * drift_steps  # [E]
    step = phase.floor().long()
    blend = torch.rand(num_events, generator=g).double() < (phase - step.double())
    pref = (src_comm[src] + step + blend.long()) % num_communities  # [E] preferred destination community
    noise = torch.rand(num_events, generator=g) < 0.1
    pref = torch.where(noise, torch.randint(num_communities, (num_events,), generator=g), pref)
    dst = torch.multinomial(comm_weights[pref], 1, generator=g).squeeze(1)  # [E]

    # repeats: an event copies the destination of the same source's previous event (rounds, not a per-event loop)
    repeat = torch.rand(num_events, generator=g) < repeat_prob
    order = torch.argsort(src * num_events + torch.arange(num_events), stable=True)  # by source, then time
    same_prev = torch.zeros(num_events, dtype=torch.bool)
    same_prev[1:] = src[order][1:] == src[order][:-1]
    prev_of = torch.full((num_events,), -1, dtype=torch.long)
    prev_of[order[1:]] = torch.where(same_prev[1:], order[:-1], torch.full_like(order[:-1], -1))
    copy = repeat & (prev_of >= 0)
    ptr = torch.where(
        copy, prev_of, torch.arange(num_events)
    )  # a copying event points to its source's previous
    for _ in range(
        int(math.ceil(math.log2(num_events + 1)))
    ):  # pointer jumping to the root of each repeat chain
        ptr = ptr[ptr]
    dst = dst[ptr]

    msg_code = torch.randn(num_communities, msg_dim, generator=g)
    msg = msg_code[dst_comm[dst]] + 0.5 * torch.randn(num_events, msg_dim, generator=g)
    return _finish(src, dst, t, msg, src_feat, dst_feat, num_src, num_dst)


def load_jodie_csv(path: str | Path) -> TemporalLinks:
    """Read a JODIE-format CSV (``user, item, timestamp, state_label, features…``, one header line).

    This is the format of the public temporal-graph datasets (Wikipedia, Reddit, MOOC, LastFM). Users become
    sources and items destinations; ids must be non-negative integers. Timestamps are cast to integer seconds.
    JODIE files carry no node features, so a node's static features are the mean message of its *training*
    events (zeros for nodes unseen in training) — static, and free of validation/test information.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: file not found; expected a JODIE CSV 'user,item,timestamp,state_label,features...'"
        )
    lines = path.read_text().splitlines()
    rows = [line for line in lines[1:] if line.strip()]
    if not rows:
        raise DataError(
            f"{path}: no events after the header line; expected 'user,item,timestamp,state_label,...'"
        )
    width = rows[0].count(",") + 1
    if width < 4:
        raise DataError(
            f"{path}: line 2 has {width} comma-separated column(s); expected ',' as delimiter and at least 4 "
            "columns 'user,item,timestamp,state_label'"
        )
    for i, line in enumerate(rows):
        if line.count(",") + 1 != width:
            raise DataError(
                f"{path}: line {i + 2} has {line.count(',') + 1} columns, expected {width} like line 2 "
                "(truncated or malformed file)"
            )
    names = ["user", "item", "timestamp", "state_label"]
    try:
        table = np.array([line.split(",") for line in rows], dtype=np.float64)
    except ValueError:
        for i, line in enumerate(rows):
            for j, value in enumerate(line.split(",")):
                try:
                    float(value)
                except ValueError:
                    column = names[j] if j < 4 else f"feature {j - 4}"
                    raise DataError(
                        f"{path}: line {i + 2}, column {column!r}: {value!r} is not a number"
                    ) from None
        raise
    for j, name in enumerate(names[:2]):
        col = table[:, j]
        bad = np.flatnonzero((col < 0) | (col != np.floor(col)) | ~np.isfinite(col))
        if bad.size:
            raise DataError(
                f"{path}: line {bad[0] + 2}, column {name!r}: {float(col[bad[0]]):g} is not a non-negative integer id"
            )
    if not np.isfinite(table).all():
        i, j = np.argwhere(~np.isfinite(table))[0]
        raise DataError(f"{path}: line {i + 2}, column {j}: value is not finite; expected numbers")
    if table.shape[0] < 20:
        raise DataError(f"{path}: {table.shape[0]} events; expected at least 20 for a 70/15/15 split")
    src = torch.from_numpy(table[:, 0]).long()
    dst = torch.from_numpy(table[:, 1]).long()
    t = torch.from_numpy(np.floor(table[:, 2] - table[:, 2].min())).long()
    feats = torch.from_numpy(table[:, 4:]).float()
    msg = feats if feats.size(1) > 0 else torch.zeros(src.numel(), 1)
    num_src, num_dst = int(src.max()) + 1, int(dst.max()) + 1
    data = _finish(src, dst, t, msg, torch.zeros(num_src, 1), torch.zeros(num_dst, 1), num_src, num_dst)
    tr = slice(0, data.n_train)
    data.src_feat = _mean_by(data.msg[tr], data.src[tr], num_src)
    data.dst_feat = _mean_by(data.msg[tr], data.dst[tr], num_dst)
    return data


def _mean_by(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """``[n, m]`` mean of ``values`` ``[E, m]`` per index (zeros where an index has no value)."""
    sums = torch.zeros(n, values.size(1)).index_add_(0, index, values)
    counts = torch.bincount(index, minlength=n).clamp(min=1).unsqueeze(1).float()
    return sums / counts
