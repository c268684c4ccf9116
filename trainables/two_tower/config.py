"""Typed knobs of the two-tower trainable and of its data (synthetic generator or CSV file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainables.protocol import DataConfig, TrainableConfig


class TwoTowerConfig(TrainableConfig):
    """Every knob of :class:`~trainables.two_tower.TwoTower`; field names are the spec's ``config:``/``space:`` keys."""

    d_emb: int = Field(
        32, ge=4, le=512, description="Embedding size D of users and actions (tokens are 2·D wide)."
    )
    num_heads: int = Field(
        2, ge=1, le=16, description="Attention heads of the history transformer (divide 2·D)."
    )
    num_layers: int = Field(1, ge=1, le=8, description="Layers of the history transformer.")
    history_len: int = Field(
        16, ge=2, le=512, description="Padded history length N (most recent events kept)."
    )
    projection: bool = Field(
        True, description="Project the 2·D history encoding to D with a small MLP (the seed's biggest win)."
    )
    activation: Literal["gelu", "swiglu"] = Field(
        "gelu", description="Activation of the projection and query MLPs: GELU or a SwiGLU gate."
    )
    num_rand_negs: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Random negatives per example on top of in-batch ones (0: pure in-batch).",
    )
    rand_neg_sampling: Literal["uniform", "popularity"] = Field(
        "uniform", description="Distribution of the random negatives: uniform or training-target popularity."
    )
    log_q: bool = Field(False, description="Log-Q correction of the sampled softmax for popularity bias.")
    temperature: float = Field(
        0.1, gt=0.0, le=10.0, description="Softmax temperature on cosine similarities (lower: sharper)."
    )
    mask_known_positives: bool = Field(
        True, description="Also mask negatives the actor interacted with in training (besides duplicates)."
    )
    temporal_k: int = Field(
        4, ge=1, le=511, description="K: last history positions whose next event the temporal loss predicts."
    )
    temporal_loss_weight: float = Field(
        0.5, ge=0.0, le=10.0, description="Weight of the temporal pretraining loss (0 turns it off)."
    )
    batch_size: int = Field(
        128, ge=2, le=65_536, description="Training examples per batch (= in-batch negatives + 1)."
    )
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Decoupled weight decay of AdamW.")
    eval_batch_size: int = Field(
        1024, ge=1, le=1_000_000, description="Queries scored at once in evaluation."
    )

    @model_validator(mode="after")
    def _check_shapes(self) -> TwoTowerConfig:
        if (2 * self.d_emb) % self.num_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must divide the token width 2*d_emb={2 * self.d_emb}"
            )
        if self.temporal_k >= self.history_len:
            raise ValueError(f"temporal_k={self.temporal_k} must be below history_len={self.history_len}")
        return self


class TwoTowerData(DataConfig):
    """The embedded social-interaction generator, or a CSV of ``actor, action, target, timestamp`` rows."""

    source: Literal["synthetic", "csv"] = Field(
        "synthetic", description="synthetic: the embedded generator; csv: the file at path."
    )
    path: str | None = Field(
        None, description="CSV file with header actor,action,target,timestamp (source csv)."
    )
    delimiter: str = Field(",", min_length=1, max_length=1, description="Field delimiter of the CSV file.")
    min_events: int = Field(
        3,
        ge=3,
        le=10_000,
        description="Actors with fewer events are dropped (need train, val and test events).",
    )
    num_users: int = Field(400, ge=8, le=1_000_000, description="Synthetic: users (actors and targets).")
    num_communities: int = Field(8, ge=1, le=10_000, description="Synthetic: communities users belong to.")
    num_actions: int = Field(
        3, ge=1, le=64, description="Synthetic: action types (each picks targets its own way)."
    )
    max_events: int = Field(
        24, ge=3, le=10_000, description="Synthetic: events of the most active actor (others have 50–100%)."
    )
    num_popular: int = Field(5, ge=1, le=1_000, description="Synthetic: very popular targets.")
    p_sequential: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Synthetic: chance a message goes to the successor of the last target.",
    )

    @model_validator(mode="after")
    def _check_sizes(self) -> TwoTowerData:
        if self.source == "csv" and not self.path:
            raise ValueError("source 'csv' needs path, the CSV file to read")
        if self.num_users < 2 * self.num_communities:
            raise ValueError(
                f"num_users={self.num_users} must be at least 2*num_communities={2 * self.num_communities}"
            )
        if self.num_popular >= self.num_users:
            raise ValueError(f"num_popular={self.num_popular} must be below num_users={self.num_users}")
        return self
