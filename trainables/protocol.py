"""The small surface every ranktune model implements.

The generic runner (:mod:`trainables.runner`), the contract tests and the benchmarks treat every model alike
through this protocol, so a model never calls Ray and a new model gets the whole service for free.

A trainable is a class with

* ``Config``: a :class:`TrainableConfig` subclass listing every knob, with a default, an allowed range
  (pydantic ``ge``/``le``/``Literal``) and a one-line ``description``. The spec's ``config:`` and ``space:``
  keys are exactly these field names; unknown keys are rejected.
* ``DataConfig``: a :class:`DataConfig` subclass describing where the data comes from (the embedded synthetic
  generator and its sizes, or a loader name and a path).
* ``load_data(data_config) -> dataset`` (classmethod): builds the dataset once, in the driver. The dataset is
  put in Ray's object store and shared by every trial on a node, so it must be picklable and should be made of
  tensors/arrays. Bad files raise :class:`DataError`.
* ``metric_names(config) -> MetricNames`` (classmethod): the keys ``train_epoch`` and ``evaluate`` return, so a
  spec's ``metric:`` can be checked before Ray starts.
* ``__init__(config, data, device)``, ``train_epoch(epoch) -> dict``, ``evaluate(split) -> dict``,
  ``state_dict()`` / ``load_state_dict(state)``.

Metric keys are returned *without* the split prefix (``"hr@10"``, ``"short/hr@10"``, ``"loss"``); the runner adds
``train/``, ``val/`` or ``test/``. Values are Python floats.

``state_dict()`` must hold everything needed to continue bit-for-bit: model and optimiser state, sampler state,
the model's own ``torch.Generator`` state, epoch counters. It is saved with ``torch.save`` and loaded with
``torch.load(weights_only=True)`` (checkpoints may come from untrusted folders), so it may only contain tensors,
numbers, strings, ``None`` and (nested) lists, tuples and dicts of those. The runner saves and restores the global
torch / numpy / random RNG states itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field


class DataError(ValueError):
    """A data file or data spec that cannot be used: names the file, what is wrong and what is expected."""


class TrainableConfig(BaseModel):
    """Knobs shared by every trainable. Subclasses add their own fields, each with a range and a description."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    seed: int = Field(
        0, ge=0, description="Seed of every random generator of the trial (model init, sampling)."
    )
    max_epochs: int = Field(
        20, ge=1, le=100_000, description="Training epochs (ASHA may stop a trial earlier)."
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Learning rate of the optimiser.")


class DataConfig(BaseModel):
    """Where a trainable's data comes from. Subclasses declare ``source`` and the generator/loader parameters."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, ge=0, description="Seed of the synthetic generator and of the data split.")


@dataclass(frozen=True)
class MetricNames:
    """The metric keys (without split prefix) a trainable reports for a given config."""

    train: tuple[str, ...]
    eval: tuple[str, ...]
    extra: tuple[str, ...] = field(default=())  # other per-epoch keys reported under train/ (e.g. "stage")


class Trainable(ABC):
    """Base class of every ranktune model. See the module docstring for the contract."""

    Config: ClassVar[type[TrainableConfig]] = TrainableConfig
    DataConfig: ClassVar[type[DataConfig]] = DataConfig
    #: data and config overrides for a seconds-long CPU run; used by the contract tests and benchmarks.
    tiny_data: ClassVar[dict[str, Any]] = {}
    tiny_config: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: TrainableConfig, data: Any, device: torch.device) -> None:
        self.config = config
        self.data = data
        self.device = device

    @classmethod
    @abstractmethod
    def load_data(cls, data_config: DataConfig) -> Any:
        """Build the dataset once (driver side). Raise :class:`DataError` for unusable files."""

    @classmethod
    @abstractmethod
    def metric_names(cls, config: TrainableConfig) -> MetricNames:
        """The keys returned by :meth:`train_epoch` and :meth:`evaluate` for this config."""

    @abstractmethod
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch (``epoch`` counts from 0) and return train metrics such as ``{"loss": ...}``."""

    @abstractmethod
    def evaluate(self, split: str) -> dict[str, float]:
        """Evaluate on ``"val"`` or ``"test"`` and return metrics without the split prefix."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (weights_only-loadable)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""

    def close(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Release resources (called by the runner when the trial ends)."""
