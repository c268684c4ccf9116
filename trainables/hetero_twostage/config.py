"""Knobs of ``hetero_twostage``; defaults follow the GNN v6 report, ranges cover its proposed next steps."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainables.protocol import DataConfig, TrainableConfig


class HeteroTwoStageConfig(TrainableConfig):
    """Model, two-stage schedule, sampler, margin and baseline knobs."""

    lr: float = Field(5e-3, gt=0.0, le=1.0, description="Adam learning rate (both stages; unused by gbdt).")
    model: Literal["gnn", "mlp", "gbdt"] = Field(
        "gnn",
        description="gnn: heterogeneous GNN; mlp: same heads on node features, no graph; gbdt: sklearn HGB.",
    )
    conv: Literal["sage", "gat"] = Field("sage", description="Convolution per edge type inside HeteroConv.")
    num_layers: int = Field(2, ge=1, le=4, description="Message-passing layers (MLP: hidden layers).")
    hidden_dim: int = Field(32, ge=4, le=512, description="Embedding width of every node type.")
    dropout: float = Field(0.1, ge=0.0, le=0.9, description="Dropout after every encoder layer.")
    pref_head: Literal["concat", "dot"] = Field(
        "concat", description="Preference head: MLP on concatenated embeddings, or bilinear dot product."
    )
    focal_alpha: float = Field(
        0.25, gt=0.0, lt=1.0, description="Focal loss weight of the rare positive class."
    )
    focal_gamma: float = Field(
        2.0, ge=0.0, le=5.0, description="Focal loss focusing exponent (0 = weighted BCE)."
    )
    stage1_epochs: int = Field(
        8, ge=0, le=10_000, description="Most turnover pre-training epochs before stage 2 (0 skips stage 1)."
    )
    stage1_patience: int = Field(
        3, ge=1, le=1000, description="Stage 1 stops after this many epochs without a better val focal loss."
    )
    turnover_weight: float = Field(0.2, ge=0.0, le=10.0, description="Stage 2 weight α of the turnover loss.")
    preference_weight: float = Field(
        0.8, ge=0.0, le=10.0, description="Stage 2 weight β of the preference loss."
    )
    hard_ratio: float = Field(
        0.7, ge=0.0, le=1.0, description="Share of stage-2 negatives drawn from the cache."
    )
    cache_size: int = Field(5, ge=1, le=1000, description="Hard negatives cached per employee.")
    refresh_every: int = Field(5, ge=1, le=1000, description="Stage-2 epochs between cache refreshes.")
    num_negatives: int = Field(
        1, ge=1, le=64, description="Negatives per preferred (employee, position) pair."
    )
    margin_init: float = Field(
        1.0, ge=0.0, le=10.0, description="Initial hinge margin of the preference loss."
    )
    margin_min: float = Field(0.5, ge=0.0, le=10.0, description="Lower bound of the adaptive margin.")
    margin_max: float = Field(3.0, ge=0.0, le=10.0, description="Upper bound of the adaptive margin.")
    margin_step: float = Field(
        0.1, ge=0.0, le=5.0, description="Margin change per stage-2 epoch (0 = fixed)."
    )
    margin_upper: float = Field(
        0.6, ge=0.0, le=1.0, description="Val pairwise accuracy above which it rises."
    )
    margin_lower: float = Field(
        0.52, ge=0.0, le=1.0, description="Val pairwise accuracy below which it falls."
    )
    hard_weight: float = Field(2.0, ge=1.0, le=10.0, description="Loss weight of pairs with a hard negative.")
    rank_reg: float = Field(0.1, ge=0.0, le=10.0, description="L2 penalty on preference scores.")
    batch_size: int = Field(
        256, ge=8, le=65_536, description="Employees (stage 1) or pairs (stage 2) per step."
    )
    weight_decay: float = Field(0.0, ge=0.0, le=0.1, description="Adam weight decay.")
    gbdt_max_iter: int = Field(100, ge=10, le=2000, description="gbdt: boosting iterations.")
    gbdt_learning_rate: float = Field(0.1, gt=0.0, le=1.0, description="gbdt: shrinkage.")
    gbdt_max_leaf_nodes: int = Field(31, ge=2, le=512, description="gbdt: leaves per tree.")

    @model_validator(mode="after")
    def _check_margins(self) -> HeteroTwoStageConfig:
        if not self.margin_min <= self.margin_init <= self.margin_max:
            raise ValueError(
                f"margin_init {self.margin_init} must lie in [margin_min {self.margin_min}, "
                f"margin_max {self.margin_max}]"
            )
        if self.margin_lower > self.margin_upper:
            raise ValueError(
                f"margin_lower {self.margin_lower} must not exceed margin_upper {self.margin_upper}"
            )
        return self


class HeteroTwoStageDataConfig(DataConfig):
    """The embedded generator's sizes, or a directory of CSV tables (schema: :mod:`.loader`)."""

    source: Literal["synthetic", "csv"] = Field("synthetic", description="synthetic generator or CSV tables.")
    path: str | None = Field(None, description="csv: directory holding employees/positions/preferences.csv.")
    num_employees: int = Field(1500, ge=60, le=10_000_000, description="synthetic: employees.")
    num_positions: int = Field(60, ge=6, le=1_000_000, description="synthetic: positions.")
    num_departments: int = Field(
        6, ge=2, le=100_000, description="synthetic: departments (position clusters)."
    )
    prefs_per_employee: int = Field(
        5, ge=3, le=100, description="synthetic: preferred positions per employee."
    )
    skill_dim: int = Field(
        6, ge=1, le=64, description="synthetic: size of the latent skill/requirement vectors."
    )
    pref_noise: float = Field(
        0.3,
        ge=0.0,
        le=10.0,
        description="synthetic: Gumbel noise scale of preferences (0: pure skill match).",
    )
    turnover_rate: float = Field(
        0.07, ge=0.01, le=0.5, description="synthetic: share of employees who leave."
    )
    val_fraction: float = Field(0.15, ge=0.05, le=0.4, description="Employees whose turnover label is val.")
    test_fraction: float = Field(0.15, ge=0.05, le=0.4, description="Employees whose turnover label is test.")
    eval_negatives: int = Field(
        4, ge=1, le=100, description="Fixed negatives per held-out preference (half same-department)."
    )

    @model_validator(mode="after")
    def _check_sizes(self) -> HeteroTwoStageDataConfig:
        if self.prefs_per_employee >= self.num_positions:
            raise ValueError(
                f"prefs_per_employee {self.prefs_per_employee} must be below "
                f"num_positions {self.num_positions}"
            )
        return self
