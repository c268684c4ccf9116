"""The dataset of graph ↔ text pairs: graphs stored flat, descriptions as word ids, splits and text neighbours.

Every molecule ``i`` owns nodes ``node_ptr[i]:node_ptr[i+1]`` and edges ``edge_ptr[i]:edge_ptr[i+1]``; edge
endpoints are *local* node numbers (0 .. size-1), so any subset of graphs is gathered into one disjoint-union
batch with a few vectorised index operations (:func:`gather_graphs`), without per-graph Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from trainables.common.samplers.batches import cosine_topk

#: node feature columns: atomic number (0 .. 119), aromatic flag (0/1)
NUM_ATOM_TYPES = 120
#: bond types: 0 single, 1 double, 2 triple, 3 aromatic
NUM_BOND_TYPES = 4
#: hashed bag-of-words width of the frozen description vectors used for the neighbour search
KNN_DIM = 1024


@dataclass
class GraphTextData:
    """Graphs, descriptions, splits and precomputed description neighbours (all CPU tensors; picklable).

    Attributes:
        x: ``[total_nodes, 2]`` long node features (atomic number, aromatic flag).
        edge_index: ``[2, total_edges]`` long local endpoints, both directions of every bond.
        edge_attr: ``[total_edges]`` long bond types.
        node_ptr, edge_ptr: ``[N + 1]`` offsets of each graph's nodes and edges.
        tokens: ``[N, L]`` long word ids of each description, right-padded with ``-1``.
        vocab: the words (``tokens`` index it).
        texts: the descriptions as strings.
        family: ``[N]`` long motif family of each synthetic molecule (``-1`` for loaded data).
        splits: ``{"train"|"val"|"test": [n_split] long molecule ids}``.
        neighbors: ``[n_train, K]`` long positions *within the train split* of each train item's nearest
            descriptions (cosine), nearest first.
        text_embeddings: optional ``[N, d]`` frozen sentence embeddings of the descriptions.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    node_ptr: torch.Tensor
    edge_ptr: torch.Tensor
    tokens: torch.Tensor
    vocab: list[str]
    texts: list[str]
    family: torch.Tensor
    splits: dict[str, torch.Tensor]
    neighbors: torch.Tensor
    text_embeddings: torch.Tensor | None = None

    @property
    def num_molecules(self) -> int:
        return self.node_ptr.numel() - 1


def concat_ranges(starts: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``cat([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised. ``[sum(counts)]`` long."""
    counts = counts.long()
    total = int(counts.sum())
    first = torch.cumsum(counts, 0) - counts  # [n] position of each range's first element in the output
    return torch.arange(total) + torch.repeat_interleave(starts.long() - first, counts)


def gather_graphs(
    data: GraphTextData, ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Disjoint union of the graphs ``ids`` (``[B]``), as ``(x [n, 2], edge_index [2, e], edge_attr [e], batch [n])``."""
    ids = ids.cpu().long()
    n_nodes = data.node_ptr[ids + 1] - data.node_ptr[ids]  # [B]
    n_edges = data.edge_ptr[ids + 1] - data.edge_ptr[ids]  # [B]
    node_rows = concat_ranges(data.node_ptr[ids], n_nodes)  # [n]
    edge_rows = concat_ranges(data.edge_ptr[ids], n_edges)  # [e]
    offsets = torch.cumsum(n_nodes, 0) - n_nodes  # [B] first node of each graph in the batch
    edge_index = data.edge_index[:, edge_rows] + torch.repeat_interleave(offsets, n_edges).unsqueeze(0)
    batch = torch.repeat_interleave(torch.arange(ids.numel()), n_nodes)  # [n]
    return data.x[node_rows], edge_index, data.edge_attr[edge_rows], batch


def pad_rows(rows: list[list[int]], pad: int = -1) -> torch.Tensor:
    """Right-pad ragged integer rows into ``[len(rows), max_len]``."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max(width, 1)), pad, dtype=torch.long)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    flat = torch.tensor([t for r in rows for t in r], dtype=torch.long)
    mask = torch.arange(out.size(1)).unsqueeze(0) < lengths.unsqueeze(1)  # [N, L]
    out[mask] = flat
    return out


def hashed_ngrams(tokens: torch.Tensor, num_buckets: int) -> torch.Tensor:
    """Word unigram and bigram ids of padded descriptions, hashed into ``num_buckets``.

    Args:
        tokens: ``[N, L]`` word ids, ``-1`` = padding.
        num_buckets: hash buckets; padding and incomplete bigrams map to ``num_buckets`` (a padding index).

    Returns:
        ``[N, 2L - 1]`` long bucket ids (unigrams then bigrams).
    """
    valid = tokens >= 0
    t = tokens.clamp(min=0).long()
    uni = torch.where(valid, (t * 1_000_003 + 7) % num_buckets, num_buckets)  # [N, L]
    if tokens.size(1) < 2:
        return uni
    pair_ok = valid[:, 1:] & valid[:, :-1]
    bi = torch.where(pair_ok, (t[:, :-1] * 92_821 + t[:, 1:] * 1_000_003 + 13) % num_buckets, num_buckets)
    return torch.cat([uni, bi], dim=1)


def tfidf_vectors(tokens: torch.Tensor, dim: int = KNN_DIM) -> torch.Tensor:
    """Frozen TF-IDF description vectors over hashed unigrams + bigrams: ``[N, dim]``, L2-normalised.

    They stand in for the seed system's BERT description embeddings when no sentence model is installed: two
    descriptions sharing most words (one motif family) get a high cosine similarity.
    """
    ids = hashed_ngrams(tokens, dim)  # [N, M]
    n = ids.size(0)
    counts = torch.zeros(n, dim + 1).scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float))[:, :dim]
    df = (counts > 0).float().sum(0)  # [dim]
    idf = torch.log((1 + n) / (1 + df)) + 1.0
    return torch.nn.functional.normalize(counts * idf, dim=1)


def split_ids(n: int, fractions: tuple[float, float], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random train / val / test molecule ids with ``fractions = (val, test)``."""
    perm = torch.randperm(n, generator=generator)
    n_val, n_test = int(round(fractions[0] * n)), int(round(fractions[1] * n))
    n_train = n - n_val - n_test
    return {
        "train": perm[:n_train].sort().values,
        "val": perm[n_train : n_train + n_val].sort().values,
        "test": perm[n_train + n_val :].sort().values,
    }


def train_neighbors(
    tokens: torch.Tensor, train: torch.Tensor, k: int, text_embeddings: torch.Tensor | None = None
) -> torch.Tensor:
    """``[n_train, min(k, n_train - 1)]`` positions of each train item's nearest train descriptions (cosine).

    Uses the frozen sentence embeddings when given (as the seed system used BERT), TF-IDF vectors otherwise.
    """
    vectors = text_embeddings[train] if text_embeddings is not None else tfidf_vectors(tokens[train])
    k = max(1, min(k, train.numel() - 1))
    return cosine_topk(vectors, k, chunk_size=1024)[1]
