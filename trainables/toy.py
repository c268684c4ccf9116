"""A minimal trainable: the smallest complete example of the protocol, plus fault injection for tests.

It scores items for users with a bilinear model on a planted low-rank preference matrix and reports HR@k / MRR from a
full ranking, so it *learns* (the planted signal is recoverable) while an epoch takes milliseconds. The fault knobs
(``fail_at_epoch``, ``fail_once``, ``nan_at_epoch``, ``sleep_s``, ``hang_at_epoch``, ``omit_metric``,
``hog_at_epoch``/``hog_mb``) let the tests and benchmarks exercise the service's failure handling without a real
model (see ``docs/reliability.md``). Use it as ``trainable: trainables.toy:Toy`` — it is also the template for a
user's own model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import Field

from trainables.common.metrics import ranking_metrics, ranks_from_scores
from trainables.protocol import DataConfig, MetricNames, Trainable, TrainableConfig


class ToyConfig(TrainableConfig):
    dim: int = Field(8, ge=1, le=256, description="Embedding size of users and items.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="L2 penalty of the optimiser.")
    fail_at_epoch: int = Field(-1, ge=-1, description="Raise an error at this epoch (-1: never).")
    fail_once: bool = Field(False, description="Fail only in the first attempt (a transient fault).")
    nan_at_epoch: int = Field(-1, ge=-1, description="Report a NaN loss at this epoch (-1: never).")
    sleep_s: float = Field(
        0.0, ge=0.0, le=3600.0, description="Seconds to sleep per epoch (slow or hung trials)."
    )
    hang_at_epoch: int = Field(
        -1, ge=-1, description="Sleep for an hour at this epoch: a hung trial (-1: never)."
    )
    omit_metric: str = Field(
        "", max_length=64, description="Leave this key out of evaluate's result ('': report every key)."
    )
    hog_at_epoch: int = Field(
        -1, ge=-1, description="At this epoch of the first attempt, hold hog_mb of memory (-1: never)."
    )
    hog_mb: int = Field(0, ge=0, le=65536, description="MiB held at hog_at_epoch, for the memory monitor.")


class ToyData(DataConfig):
    source: Literal["synthetic"] = Field("synthetic", description="Only the planted low-rank generator.")
    num_users: int = Field(64, ge=4, le=100_000, description="Users.")
    num_items: int = Field(50, ge=4, le=100_000, description="Items.")
    rank: int = Field(3, ge=1, le=64, description="Rank of the planted preference matrix.")


@dataclass
class ToyDataset:
    """Each user's best item (test), second best (val), and the preference matrix the model must recover."""

    prefs: torch.Tensor  # [U, I]
    val_item: torch.Tensor  # [U]
    test_item: torch.Tensor  # [U]


class Toy(Trainable):
    """Bilinear scorer on planted preferences; see the module docstring."""

    Config = ToyConfig
    DataConfig = ToyData
    tiny_data = {"num_users": 32, "num_items": 20}
    tiny_config = {"max_epochs": 3}

    @classmethod
    def load_data(cls, data_config: ToyData) -> ToyDataset:
        g = torch.Generator().manual_seed(data_config.seed)
        u = torch.randn(data_config.num_users, data_config.rank, generator=g)
        v = torch.randn(data_config.num_items, data_config.rank, generator=g)
        prefs = u @ v.t()
        top2 = prefs.topk(2, dim=1).indices
        return ToyDataset(prefs=prefs, val_item=top2[:, 1], test_item=top2[:, 0])

    @classmethod
    def metric_names(cls, config: TrainableConfig) -> MetricNames:
        return MetricNames(train=("loss",), eval=("hr@1", "hr@5", "ndcg@5", "mrr", "mean_rank"))

    def __init__(self, config: ToyConfig, data: ToyDataset, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.config: ToyConfig = config
        self.generator = torch.Generator().manual_seed(config.seed)
        num_users, num_items = data.prefs.shape
        self.users = torch.nn.Parameter(0.1 * torch.randn(num_users, config.dim, generator=self.generator))
        self.items = torch.nn.Parameter(0.1 * torch.randn(num_items, config.dim, generator=self.generator))
        self.optimizer = torch.optim.Adam(
            [self.users, self.items], lr=config.lr, weight_decay=config.weight_decay
        )
        self.restored = False
        self.target = torch.softmax(data.prefs, dim=1)  # [U, I]

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if self.config.sleep_s:
            time.sleep(self.config.sleep_s)
        if epoch == self.config.fail_at_epoch and not (self.config.fail_once and self.restored):
            raise RuntimeError(f"injected failure at epoch {epoch + 1}")
        if epoch == self.config.hang_at_epoch:
            time.sleep(3600.0)
        if epoch == self.config.hog_at_epoch and not self.restored:
            # touched page by page so the memory is resident; held until the memory monitor kills the worker
            hog = torch.ones(self.config.hog_mb * 2**18, dtype=torch.float32)  # [hog_mb MiB]
            time.sleep(120.0)
            del hog
        noise = 0.01 * torch.randn(self.users.shape, generator=self.generator)
        scores = (self.users + noise) @ self.items.t()  # [U, I]
        loss = -(self.target * torch.log_softmax(scores, dim=1)).sum(dim=1).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        value = float("nan") if epoch == self.config.nan_at_epoch else loss.item()
        return {"loss": value}

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        scores = self.users @ self.items.t()
        target = self.data.val_item if split == "val" else self.data.test_item
        other = self.data.test_item if split == "val" else self.data.val_item
        exclude = torch.zeros_like(scores, dtype=torch.bool)
        exclude[torch.arange(scores.size(0)), other] = True
        metrics = ranking_metrics(ranks_from_scores(scores, target, exclude), ks=(1, 5))
        metrics.pop(self.config.omit_metric, None)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {
            "users": self.users.detach().clone(),
            "items": self.items.detach().clone(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.users.copy_(state["users"])
            self.items.copy_(state["items"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.restored = True
