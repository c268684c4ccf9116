"""The two towers of the seed system: a graph transformer for molecules and a text encoder for descriptions.

Both end in a projection head into one ``proj_dim`` space where a CLIP-style InfoNCE aligns them.

* :class:`GraphEncoder` — atom / aromatic / bond embeddings, ``num_layers`` graph-transformer layers
  (``TransformerConv``, Shi et al. 2021, with bond features in the attention; or ``GPSConv``, Rampášek et al. 2022,
  a local GINE message passing plus global multi-head attention), mean pooling, projection head.
* :class:`HashedTextEncoder` — a trainable bag of hashed word unigrams + bigrams (``EmbeddingBag``, fastText-like):
  needs no downloaded weights, so it runs offline everywhere.
* :class:`FrozenTextHead` — a trainable projection of frozen sentence embeddings (an optional installed model).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch_geometric.nn import GINEConv, GPSConv, TransformerConv
from torch_geometric.utils import scatter

from trainables.graph_text_retrieval.data import NUM_ATOM_TYPES, NUM_BOND_TYPES


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Two-layer MLP into the shared retrieval space (the CLIP / SimCLR projection head)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class GraphEncoder(nn.Module):
    """Graph transformer over molecules → ``[B, proj_dim]`` embeddings.

    Args:
        hidden: node width (divisible by ``heads``).
        proj_dim: output width.
        num_layers: graph-transformer layers (deeper = wider receptive field over the molecule).
        heads: attention heads per layer.
        conv: ``"transformer"`` (``TransformerConv``: attention over bonded neighbours, bond types as edge
            features) or ``"gps"`` (``GPSConv``: GINE on bonds + full attention within each molecule).
    """

    def __init__(
        self, hidden: int, proj_dim: int, num_layers: int, heads: int, conv: Literal["transformer", "gps"]
    ) -> None:
        super().__init__()
        self.conv_type = conv
        self.atom = nn.Embedding(NUM_ATOM_TYPES, hidden)
        self.aromatic = nn.Embedding(2, hidden)
        self.bond = nn.Embedding(NUM_BOND_TYPES, hidden)
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            if conv == "transformer":
                layers.append(TransformerConv(hidden, hidden // heads, heads=heads, edge_dim=hidden))
            else:
                local = GINEConv(projection_head(hidden, hidden, hidden), edge_dim=hidden)
                layers.append(GPSConv(hidden, local, heads=heads))
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers))
        self.head = projection_head(hidden, hidden, proj_dim)

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        edge_attr: torch.Tensor,
        batch: torch.Tensor,
        size: int,
    ) -> torch.Tensor:
        """``x [n, 2]``, ``edge_index [2, e]``, ``edge_attr [e]``, ``batch [n]`` → ``[size, proj_dim]``."""
        h = self.atom(x[:, 0]) + self.aromatic(x[:, 1])  # [n, hidden]
        e = self.bond(edge_attr)  # [e, hidden]
        for layer, norm in zip(self.layers, self.norms):
            if self.conv_type == "transformer":
                h = norm(h + torch.relu(layer(h, edge_index, edge_attr=e)))  # residual keeps atom identity
            else:
                h = norm(layer(h, edge_index, batch, edge_attr=e))  # GPSConv has its own residuals
        pooled = scatter(h, batch, dim=0, dim_size=size, reduce="mean")  # [B, hidden]
        return self.head(pooled)


class HashedTextEncoder(nn.Module):
    """Mean of hashed word unigram + bigram embeddings → projection head.

    Args:
        num_buckets: hash buckets (more = fewer collisions, more parameters); bucket ``num_buckets`` is padding.
        hidden: embedding width.
        proj_dim: output width.
    """

    def __init__(self, num_buckets: int, hidden: int, proj_dim: int) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(num_buckets + 1, hidden, mode="mean", padding_idx=num_buckets)
        self.head = projection_head(hidden, hidden, proj_dim)

    def forward(self, ngrams: torch.Tensor) -> torch.Tensor:
        """``ngrams [B, M]`` bucket ids (from ``hashed_ngrams``) → ``[B, proj_dim]``."""
        return self.head(self.bag(ngrams))


class FrozenTextHead(nn.Module):
    """Trainable projection of frozen sentence embeddings ``[B, d_in]`` → ``[B, proj_dim]``."""

    def __init__(self, in_dim: int, hidden: int, proj_dim: int) -> None:
        super().__init__()
        self.head = projection_head(in_dim, hidden, proj_dim)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.head(embeddings)


def sentence_embeddings(texts: list[str], model_name: str) -> torch.Tensor:
    """Embed ``texts`` with an installed sentence-transformers model, offline only: ``[N, d]`` float32.

    Raises :class:`~trainables.protocol.DataError` when the package or the model is not available locally.
    """
    from trainables.protocol import DataError

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise DataError(
            f"data.sentence_model={model_name!r} needs the sentence-transformers package, which is not installed "
            "(pip install sentence-transformers, then put the model in the local Hugging Face cache or give its "
            "directory); nothing is downloaded"
        ) from exc
    try:
        model = SentenceTransformer(model_name, device="cpu", local_files_only=True)
    except Exception as exc:  # the library raises OSError, ValueError or HF errors for a missing model
        raise DataError(
            f"data.sentence_model={model_name!r}: cannot load it offline ({type(exc).__name__}); give a local "
            "model directory or a model already in the Hugging Face cache; nothing is downloaded"
        ) from exc
    out = model.encode(texts, batch_size=64, convert_to_tensor=True, show_progress_bar=False)
    return out.float().cpu()
