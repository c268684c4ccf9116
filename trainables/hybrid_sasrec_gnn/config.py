"""Knobs of the hybrid SASRec + GNN trainable (every field is a YAML key of a spec's ``config:`` / ``space:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainables.protocol import TrainableConfig


class HybridConfig(TrainableConfig):
    """The seed's experiment plan as typed knobs: fusion variant and α, GNN kind and depth, negatives, two-stage."""

    fusion: Literal["fixed", "learnable", "continuous", "piecewise"] = Field(
        "fixed",
        description="How α is set: from `alpha`, per length group, a sigmoid of log length, or piecewise.",
    )
    alpha: float = Field(
        0.5, ge=0.0, le=1.0, description="Fixed fusion weight of SASRec (1 = SASRec alone, 0 = GNN alone)."
    )
    alpha_l2: float = Field(0.01, ge=0.0, le=10.0, description="L2 penalty on the learnable per-group α.")
    score: Literal["dot", "cosine"] = Field(
        "cosine",
        description="Component score: cosine / temperature (one bounded scale for both), or dot product.",
    )
    temperature: float = Field(0.1, ge=0.01, le=10.0, description="Temperature of the cosine score.")
    dim: int = Field(64, ge=4, le=1024, description="Embedding size of SASRec and of the GNN.")
    max_len: int = Field(50, ge=2, le=1024, description="SASRec window: the most recent items it attends to.")
    num_heads: int = Field(2, ge=1, le=16, description="Attention heads of SASRec (must divide `dim`).")
    num_blocks: int = Field(2, ge=1, le=12, description="Transformer blocks of SASRec.")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="Dropout of SASRec's embeddings and blocks.")
    gnn: Literal["lightgcn", "gat"] = Field(
        "lightgcn", description="Graph encoder of the user-item graph: LightGCN or GAT."
    )
    gnn_layers: int = Field(2, ge=1, le=8, description="Propagation layers of the graph encoder.")
    gnn_pretrain_epochs: int = Field(
        0,
        ge=0,
        le=1000,
        description="Two-stage: first epochs train the GNN alone with BPR, then it is frozen.",
    )
    num_negatives: int = Field(1, ge=1, le=256, description="Sampled negatives per positive in the BCE loss.")
    neg_sampler: Literal["uniform", "popularity"] = Field(
        "uniform",
        description="Negatives uniform over items, or in proportion to training popularity (harder).",
    )
    batch_size: int = Field(128, ge=1, le=65_536, description="Users (sequences) per training batch.")
    eval_batch_size: int = Field(
        1024, ge=1, le=1_000_000, description="Users per full-ranking evaluation batch."
    )
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="L2 weight decay of the Adam optimiser.")
    short_max: int = Field(
        10, ge=1, le=100_000, description="Histories up to this length form the short group."
    )
    long_min: int = Field(
        51, ge=2, le=100_000, description="Histories of at least this length form the long group."
    )

    @model_validator(mode="after")
    def _check(self) -> HybridConfig:
        if self.long_min <= self.short_max:
            raise ValueError(f"long_min ({self.long_min}) must exceed short_max ({self.short_max})")
        if self.dim % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide dim ({self.dim})")
        return self
