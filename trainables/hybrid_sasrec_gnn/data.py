"""Data of the hybrid SASRec + GNN trainable: the embedded synthetic generator and the MovieLens loaders.

Both produce a :class:`SequenceDataset`: every user's interactions in time order, stored flat. The trainable splits
them leave-one-out (last item = test target, second-to-last = validation target, the rest = training history).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from pydantic import Field, model_validator

from trainables.protocol import DataConfig, DataError

#: smallest history the leave-one-out split can use: one training item, one validation and one test target.
MIN_INTERACTIONS = 3


class HybridData(DataConfig):
    """Where the hybrid's interaction sequences come from."""

    source: Literal["synthetic", "movielens"] = Field(
        "synthetic", description="'synthetic': the embedded generator; 'movielens': a file given by `path`."
    )
    path: str | None = Field(
        None, description="MovieLens file (u.data, ratings.dat or a RecBole .inter file)."
    )
    format: Literal["auto", "ml-100k", "ml-1m", "inter"] = Field(
        "auto", description="File format; 'auto' detects it from the file name, then from the first line."
    )
    min_interactions: int = Field(
        MIN_INTERACTIONS,
        ge=MIN_INTERACTIONS,
        le=10_000,
        description="Users with fewer interactions are dropped.",
    )
    num_users: int = Field(1500, ge=4, le=1_000_000, description="Synthetic users.")
    num_items: int = Field(800, ge=8, le=1_000_000, description="Synthetic items.")
    num_clusters: int = Field(
        40, ge=1, le=10_000, description="Item clusters; each user's taste is two of them (graph signal)."
    )
    seq_prob: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="Share of steps whose item is the successor of the last two (sequence).",
    )
    short_frac: float = Field(0.4, ge=0.0, le=1.0, description="Share of users with 4-11 interactions.")
    long_frac: float = Field(0.15, ge=0.0, le=1.0, description="Share of users with 53-120 interactions.")

    @model_validator(mode="after")
    def _check(self) -> HybridData:
        if self.short_frac + self.long_frac > 1.0:
            raise ValueError(f"short_frac + long_frac must be <= 1, got {self.short_frac + self.long_frac}")
        if self.source == "movielens" and not self.path:
            raise ValueError("source 'movielens' needs `path` (u.data, ratings.dat or a .inter file)")
        return self


@dataclass
class SequenceDataset:
    """Interaction sequences of every user, concatenated in user order, each in time order.

    Attributes:
        items: ``[T]`` item ids in ``[0, num_items)``.
        lengths: ``[U]`` interactions per user (each ``>= 3``); ``sum(lengths) == T``.
        num_items: number of distinct items.
    """

    items: torch.Tensor  # [T]
    lengths: torch.Tensor  # [U]
    num_items: int

    @property
    def num_users(self) -> int:
        return int(self.lengths.numel())


def generate_sequences(cfg: HybridData) -> SequenceDataset:
    """Synthetic sequences carrying a sequential *and* a co-occurrence signal, so the fusion weight α matters.

    Planted structure (all from ``cfg.seed``):

    * **graph / co-occurrence signal**: items fall into ``num_clusters`` clusters; each user has a primary and a
      secondary taste cluster (drawn with probability 0.7 / 0.3) and, on a "taste" step, draws an item of that
      cluster with a skewed in-cluster popularity (so popularity-based negatives are harder). Items of a cluster
      are co-consumed by the same users, which a user–item LightGCN captures from the whole history.
    * **sequential signal**: with probability ``seq_prob`` the next item is a successor of the last one, chosen
      among its two fixed successors by the item two steps back (the next item depends on the last two). The
      successors lie in random clusters, so this signal is invisible to the graph and only SASRec can use it.
    * **history lengths**: ``short_frac`` of users have 4–11 interactions, ``long_frac`` 53–120 and the rest 13–51,
      so that the leave-one-out histories fall into the short (≤ 10), medium and long (≥ 51) groups.

    SASRec alone (α = 1) misses part of the taste signal on short histories and the GNN alone (α = 0) misses the
    successors entirely, which is what makes an interior α best. Measured on the defaults (cosine scores, lr 5e-3,
    best validation HR@10 of 12 epochs): α = 0 / 0.4 / 0.5 / 0.6 / 0.7 / 1 give 0.385 / 0.537 / 0.559 / 0.568 /
    0.558 / 0.431. Fewer clusters or a larger ``seq_prob`` move the optimum towards α = 1 (with 20 clusters and
    ``seq_prob`` 0.5, α = 0.7 beat 0.6 and 1 scored 0.419).
    """
    g = torch.Generator().manual_seed(cfg.seed)
    num_users, num_items, num_clusters = cfg.num_users, cfg.num_items, min(cfg.num_clusters, cfg.num_items)
    cluster_of = torch.arange(num_items) % num_clusters
    cluster_of = cluster_of[torch.randperm(num_items, generator=g)]  # [I]
    order = torch.argsort(cluster_of, stable=True)  # items grouped by cluster, in popularity order
    sizes = torch.bincount(cluster_of, minlength=num_clusters)  # [C]
    starts = torch.cumsum(sizes, 0) - sizes  # [C]
    successors = torch.randint(num_items, (num_items, 2), generator=g)  # [I, 2]

    taste = torch.stack(
        [torch.randint(num_clusters, (num_users,), generator=g) for _ in range(2)], dim=1
    )  # [U, 2]
    group = torch.bucketize(
        torch.rand(num_users, generator=g), torch.tensor([cfg.short_frac, 1 - cfg.long_frac])
    )
    lo = torch.tensor([4, 13, 53])[group]
    hi = torch.tensor([11, 51, 120])[group]
    lengths = lo + (torch.rand(num_users, generator=g) * (hi - lo + 1)).long()  # [U]

    def taste_item() -> torch.Tensor:
        secondary = (torch.rand(num_users, generator=g) < 0.3).long()
        cluster = taste[torch.arange(num_users), secondary]  # [U]
        rank = (sizes[cluster] * torch.rand(num_users, generator=g) ** 2).long()  # skewed towards popular
        return order[starts[cluster] + rank]

    max_len = int(lengths.max())
    seq = torch.empty(num_users, max_len, dtype=torch.long)
    seq[:, 0] = taste_item()
    seq[:, 1] = taste_item()
    for t in range(2, max_len):  # a loop over time steps, vectorised over users
        follow = torch.rand(num_users, generator=g) < cfg.seq_prob
        succ = successors[seq[:, t - 1], seq[:, t - 2] % 2]
        seq[:, t] = torch.where(follow, succ, taste_item())
    keep = torch.arange(max_len).unsqueeze(0) < lengths.unsqueeze(1)  # [U, max_len]
    return SequenceDataset(items=seq[keep], lengths=lengths, num_items=num_items)


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    if name == "u.data":
        return "ml-100k"
    if name.endswith("ratings.dat"):
        return "ml-1m"
    if name.endswith(".inter"):
        return "inter"
    with path.open(encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
    if "::" in first:
        return "ml-1m"
    if ":token" in first or ":float" in first:
        return "inter"
    if "\t" in first:
        return "ml-100k"
    raise DataError(
        f"{path}: cannot tell the format from the name or the first line {first.strip()[:60]!r}; expected "
        "u.data (tab-separated), ratings.dat ('::'-separated) or a .inter file with a typed header; set `format`"
    )


def _read_columns(path: Path, fmt: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Read (user, item, timestamp) as strings; check the column count and truncated lines."""
    if fmt == "inter":
        table = pd.read_csv(path, sep="\t", dtype=str, header=0, keep_default_na=False, na_values=[""])
        names = {str(c).split(":", 1)[0]: c for c in table.columns}
        for key in ("user_id", "item_id", "timestamp"):
            if key not in names:
                raise DataError(
                    f"{path}: header has no column {key!r} (found {list(table.columns)}); expected a tab-separated "
                    "header like 'user_id:token\\titem_id:token\\trating:float\\ttimestamp:float'"
                )
        cols = [names["user_id"], names["item_id"], names["timestamp"]]
        first_data_line = 2
    else:
        sep = "\t" if fmt == "ml-100k" else "::"
        table = pd.read_csv(
            path, sep=sep, dtype=str, header=None, engine="python" if sep == "::" else "c", keep_default_na=False,
            na_values=[""],
        )  # fmt: skip
        if table.shape[1] != 4:
            raise DataError(
                f"{path}: found {table.shape[1]} column(s) with separator {sep!r}; expected 4 "
                f"(user item rating timestamp) as in {'u.data' if fmt == 'ml-100k' else 'ratings.dat'}"
            )
        cols = [0, 1, 3]
        first_data_line = 1
    if table.empty:
        raise DataError(f"{path}: no interactions; expected one 'user item rating timestamp' line per rating")
    missing = table[cols].isna().any(axis=1)
    if missing.any():
        row = int(missing.to_numpy().nonzero()[0][0])
        raise DataError(
            f"{path}: line {row + first_data_line} is truncated (missing fields); expected 4 fields"
        )
    return table[cols[0]], table[cols[1]], table[cols[2]]


def _numeric(path: Path, values: pd.Series, column: str, integer: bool, offset: int) -> pd.Series:
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() | (parsed % 1 != 0) if integer else parsed.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        kind = "an integer id" if integer else "a number"
        raise DataError(f"{path}: column {column!r}, line {row + offset}: {values.iloc[row]!r} is not {kind}")
    return parsed


def load_movielens(cfg: HybridData) -> SequenceDataset:
    """Read ml-100k ``u.data``, ml-1m ``ratings.dat`` or a RecBole ``.inter`` file into sequences.

    Interactions are ordered by timestamp within each user (file order breaks ties), users and items are
    re-indexed densely, and users with fewer than ``min_interactions`` are dropped. The ml-100k and ml-1m ids must
    be integers; RecBole ``:token`` ids may be any string. Every problem raises :class:`DataError` naming the file.
    """
    path = Path(cfg.path or "")
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected a MovieLens u.data, ratings.dat or .inter file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file, no interactions; expected one line per rating")
    fmt = _detect_format(path) if cfg.format == "auto" else cfg.format
    try:
        users, items, stamps = _read_columns(path, fmt)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot parse as {fmt}: {str(exc).splitlines()[0]}") from exc
    offset = 2 if fmt == "inter" else 1
    if fmt != "inter":
        users = _numeric(path, users, "user", integer=True, offset=offset)
        items = _numeric(path, items, "item", integer=True, offset=offset)
    times = _numeric(path, stamps, "timestamp", integer=False, offset=offset)

    user_codes = torch.from_numpy(pd.factorize(users, sort=True)[0].astype("int64"))
    times_t = torch.tensor(times.to_numpy(dtype="float64"))
    order = torch.argsort(times_t, stable=True)
    order = order[torch.argsort(user_codes[order], stable=True)]  # by user, then time, then file order
    user_sorted = user_codes[order]
    counts = torch.bincount(user_sorted)
    keep = counts[user_sorted] >= cfg.min_interactions
    if not bool(keep.any()):
        raise DataError(
            f"{path}: no user has at least {cfg.min_interactions} interactions; expected longer histories"
        )
    kept_rows = order[keep]
    item_codes = pd.factorize(items.iloc[kept_rows.numpy()], sort=True)[0].astype("int64")
    lengths = counts[counts >= cfg.min_interactions]
    num_items = int(item_codes.max()) + 1
    return SequenceDataset(items=torch.from_numpy(item_codes), lengths=lengths, num_items=num_items)


def load_sequences(cfg: HybridData) -> SequenceDataset:
    """Dispatch on ``cfg.source``."""
    return load_movielens(cfg) if cfg.source == "movielens" else generate_sequences(cfg)
