"""``hetero_twostage``: a heterogeneous GNN trained in two stages on turnover and position preference.

Seed system (GNN v6 report): employees, positions and departments in one graph carry two tasks. **Stage 1**
pre-trains on turnover (binary, ~5–10 % positives) with focal loss (``focal_alpha``, ``focal_gamma``),
early-stopped on the validation focal loss (``stage1_epochs``, ``stage1_patience``; the best stage-1 weights
are restored). **Stage 2** fine-tunes on ``turnover_weight · focal + preference_weight · margin loss``:
negatives come from a :class:`~trainables.common.samplers.cache.HardNegativeCache` (``hard_ratio``,
``cache_size``, ``refresh_every``) and the margin loss
(:func:`~trainables.common.losses.adaptive_margin_loss`: ``hard_weight``, ``rank_reg``) uses a margin that an
:class:`~trainables.common.schedules.AdaptiveMargin` moves after every stage-2 epoch from the validation
pairwise accuracy (``margin_*``).

Both stages share one epoch timeline, so ASHA and TensorBoard see one monotone run; every epoch reports its
``stage`` (1.0 or 2.0). ``model: mlp`` runs the same heads and stages without message passing; ``model: gbdt``
fits scikit-learn trees once in the first epoch (:mod:`.gbdt`) and reports ``stage`` 2.0 (both tasks fitted).

Evaluation: AUPR, AUROC, and F1 / precision / recall at the threshold that maximises F1 on *validation*
(reported as ``threshold``, used for val and test alike); pairwise accuracy and mean score margin of each
held-out preference against fixed negatives (half from the same department); ``combined`` =
mean of the two tasks' lifts over chance, ``(AUPR - prevalence) / (1 - prevalence)`` and
``(pair_acc - 0.5) / 0.5``, each 0 for a random model and 1 for a perfect one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from trainables.common.data import PairIndex
from trainables.common.losses import adaptive_margin_loss, focal_loss
from trainables.common.metrics import (
    auroc,
    average_precision,
    binary_metrics_at_threshold,
    pairwise_accuracy,
    tune_threshold,
)
from trainables.common.samplers.cache import HardNegativeCache
from trainables.common.schedules import AdaptiveMargin
from trainables.hetero_twostage.config import HeteroTwoStageConfig, HeteroTwoStageDataConfig
from trainables.hetero_twostage.data import TEST, TRAIN, VAL, HeteroTaskData, synthetic
from trainables.hetero_twostage.gbdt import GBDTFit, fit_gbdt
from trainables.hetero_twostage.loader import load_csv
from trainables.hetero_twostage.model import TwoTaskNet, edge_index_dict
from trainables.protocol import MetricNames, Trainable

TRAIN_KEYS = ("loss", "turnover_loss", "pref_loss", "margin", "hard_share", "stage")
EVAL_KEYS = (
    "aupr", "auroc", "f1", "precision", "recall", "threshold", "turnover_loss",
    "pair_acc", "mean_margin", "combined",
)  # fmt: skip


class HeteroTwoStage(Trainable):
    """Two-stage heterogeneous GNN (or MLP / GBDT baseline) for turnover and preference (module doc)."""

    Config: ClassVar[type[HeteroTwoStageConfig]] = HeteroTwoStageConfig
    DataConfig: ClassVar[type[HeteroTwoStageDataConfig]] = HeteroTwoStageDataConfig
    tiny_data: ClassVar[dict[str, Any]] = {"num_employees": 300, "num_positions": 20, "num_departments": 4}
    tiny_config: ClassVar[dict[str, Any]] = {
        "hidden_dim": 16, "stage1_epochs": 1, "refresh_every": 1, "max_epochs": 3, "batch_size": 128,
    }  # fmt: skip

    config: HeteroTwoStageConfig
    data: HeteroTaskData

    @classmethod
    def load_data(cls, data_config: HeteroTwoStageDataConfig) -> HeteroTaskData:  # type: ignore[override]
        d = data_config
        if d.source == "csv":
            return load_csv(d.path, d.val_fraction, d.test_fraction, d.eval_negatives, d.seed)
        return synthetic(
            d.num_employees, d.num_positions, d.num_departments, d.prefs_per_employee, d.skill_dim,
            d.pref_noise, d.turnover_rate, d.val_fraction, d.test_fraction, d.eval_negatives, d.seed,
        )  # fmt: skip

    @classmethod
    def metric_names(cls, config: HeteroTwoStageConfig) -> MetricNames:  # type: ignore[override]
        return MetricNames(train=TRAIN_KEYS, eval=EVAL_KEYS, extra=("stage",))

    def __init__(self, config: HeteroTwoStageConfig, data: HeteroTaskData, device: torch.device) -> None:
        super().__init__(config, data, device)
        c = config
        self.generator = torch.Generator().manual_seed(c.seed)
        self.x = {"employee": data.emp_x, "position": data.pos_x, "department": data.dept_x}
        self.x = {k: v.to(device) for k, v in self.x.items()}
        edges = edge_index_dict(data)
        self.edges = {k: v.to(device) for k, v in edges.items()}
        self.labels = data.turnover.to(device)  # [E]
        self.split_emp = {s: (data.emp_split == code).nonzero().squeeze(1).to(device) for s, code in
                          (("train", TRAIN), ("val", VAL), ("test", TEST))}  # fmt: skip
        self.pairs = {"val": (data.pref_val, data.val_neg), "test": (data.pref_test, data.test_neg)}
        # Training negatives avoid *every* known preference, held-out ones included: they score high exactly
        # when the model is right, so a cache that may hold them trains against the answers. The evaluation
        # negatives follow the same rule (a preferred position is never a negative).
        known = torch.cat([data.pref_train, data.pref_val, data.pref_test])  # [N_all, 2]
        self.exclude = PairIndex(known[:, 0], known[:, 1], data.num_positions)
        self.cache = HardNegativeCache(
            data.num_employees, data.num_positions, c.cache_size, c.hard_ratio, c.refresh_every, self.exclude
        )
        self.schedule = AdaptiveMargin(
            c.margin_init, c.margin_lower, c.margin_upper, c.margin_step, c.margin_min, c.margin_max
        )
        self.stage, self.stage2_start = (1 if c.stage1_epochs > 0 else 2), 0
        self.stage1_best, self.stage1_bad, self.stage1_weights = float("inf"), 0, None
        self.gbdt: GBDTFit | None = None
        self.gbdt_fit_state: torch.Tensor | None = None
        self.gbdt_train: dict[str, float] = {}
        in_dims = {k: v.size(1) for k, v in self.x.items()}
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed alone, not the global RNG
            torch.manual_seed(c.seed)
            edge_types = list(self.edges) if c.model == "gnn" else None
            self.net = TwoTaskNet(
                in_dims, c.hidden_dim, c.num_layers, c.conv, c.dropout, edge_types, c.pref_head
            )
        self.net.to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)

    # ---------------------------------------------------------------- forward helpers

    def _encode(self, train: bool) -> dict[str, torch.Tensor]:
        """Node embeddings; in training, dropout draws from a seed taken from the model's own generator."""
        self.net.train(train)
        if not train:
            return self.net(self.x, self.edges)
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self.net(self.x, self.edges)

    def _turnover_loss(self, h: dict[str, torch.Tensor], emp: torch.Tensor) -> torch.Tensor:
        logits = self.net.turnover(h["employee"][emp])  # [B]
        return focal_loss(logits, self.labels[emp], self.config.focal_alpha, self.config.focal_gamma)

    def _batches(self, n: int) -> list[torch.Tensor]:
        return list(torch.randperm(n, generator=self.generator).split(self.config.batch_size))

    # ---------------------------------------------------------------- training

    def train_epoch(self, epoch: int) -> dict[str, float]:
        if self.config.model == "gbdt":
            return self._gbdt_epoch()
        if self.stage == 1:
            return self._stage1_epoch(epoch)
        return self._stage2_epoch(epoch - self.stage2_start)

    def _stage1_epoch(self, epoch: int) -> dict[str, float]:
        train_emp = self.split_emp["train"]
        total = 0.0
        for idx in self._batches(train_emp.numel()):
            loss = self._turnover_loss(self._encode(True), train_emp[idx.to(self.device)])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * idx.numel()
        with torch.no_grad():
            val_loss = float(self._turnover_loss(self._encode(False), self.split_emp["val"]))
        if val_loss < self.stage1_best:
            self.stage1_best, self.stage1_bad = val_loss, 0
            self.stage1_weights = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
        else:
            self.stage1_bad += 1
        if epoch + 1 >= self.config.stage1_epochs or self.stage1_bad >= self.config.stage1_patience:
            self.stage, self.stage2_start = 2, epoch + 1
            if self.stage1_weights is not None:
                self.net.load_state_dict(self.stage1_weights)
        turnover = total / train_emp.numel()
        return {"loss": turnover, "turnover_loss": turnover, "pref_loss": 0.0,
                "margin": self.schedule.margin, "hard_share": 0.0, "stage": 1.0}  # fmt: skip

    def _score_all(self) -> torch.Tensor:
        with torch.no_grad():
            return self.net.score_all(self._encode(False)).cpu()  # [E, P]

    def _stage2_epoch(self, stage_epoch: int) -> dict[str, float]:
        c = self.config
        self.cache.maybe_refresh(stage_epoch, self._score_all)
        pairs = self.data.pref_train
        train_emp = self.split_emp["train"]
        sums = {"loss": 0.0, "turnover_loss": 0.0, "pref_loss": 0.0, "hard": 0.0}
        for idx in self._batches(pairs.size(0)):
            emp, pos = pairs[idx, 0], pairs[idx, 1]  # [B]
            neg, is_hard = self.cache.sample(emp, c.num_negatives, self.generator)  # [B, K]
            emp, pos, neg, is_hard = (t.to(self.device) for t in (emp, pos, neg, is_hard))
            h = self._encode(True)
            h_emp = h["employee"][emp]  # [B, d]
            pos_s = self.net.preference(h_emp, h["position"][pos])  # [B]
            neg_s = self.net.preference(h_emp.unsqueeze(1), h["position"][neg])  # [B, K]
            pref = adaptive_margin_loss(
                pos_s.unsqueeze(1).expand_as(neg_s),
                neg_s,
                self.schedule.margin,
                is_hard,
                c.hard_weight,
                c.rank_reg,
            )
            turn = self._turnover_loss(h, train_emp)
            loss = c.turnover_weight * turn + c.preference_weight * pref
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            n = idx.numel()
            sums["loss"] += float(loss.detach()) * n
            sums["turnover_loss"] += float(turn.detach()) * n
            sums["pref_loss"] += float(pref.detach()) * n
            sums["hard"] += float(is_hard.float().mean()) * n
        margin = self.schedule.margin  # the margin this epoch trained with
        pos_s, neg_s = self._pair_scores("val")
        self.schedule.update(pairwise_accuracy(pos_s.unsqueeze(1).expand_as(neg_s), neg_s))
        n = pairs.size(0)
        return {"loss": sums["loss"] / n, "turnover_loss": sums["turnover_loss"] / n,
                "pref_loss": sums["pref_loss"] / n, "margin": margin, "hard_share": sums["hard"] / n,
                "stage": 2.0}  # fmt: skip

    def _gbdt_epoch(self) -> dict[str, float]:
        if self.gbdt is None:
            self.gbdt_fit_state = self.generator.get_state()
            self.gbdt = fit_gbdt(self.data, self.config, self.generator)
            self.gbdt_train = {"loss": self.gbdt.turnover_loss + self.gbdt.pref_loss,
                               "turnover_loss": self.gbdt.turnover_loss, "pref_loss": self.gbdt.pref_loss,
                               "margin": 0.0, "hard_share": 0.0, "stage": 2.0}  # fmt: skip
        return dict(self.gbdt_train)

    # ---------------------------------------------------------------- evaluation

    def _turnover_logits(self) -> torch.Tensor:
        """``[E]`` turnover logit of every employee (CPU); gbdt: the logit of its probability."""
        if self.config.model == "gbdt":
            if self.gbdt is None:
                return torch.zeros(self.data.num_employees)
            return torch.logit(self.gbdt.turnover_probs(self.data).double().clamp(1e-7, 1 - 1e-7)).float()
        with torch.no_grad():
            return self.net.turnover(self._encode(False)["employee"]).cpu()

    def _pair_scores(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of held-out preferences ``[N]`` and of their fixed negatives ``[N, K]`` (CPU)."""
        pairs, neg = self.pairs[split]
        emp = pairs[:, 0]
        if self.config.model == "gbdt":
            if self.gbdt is None:
                return torch.zeros(emp.numel()), torch.zeros(neg.shape)
            pos_s = self.gbdt.pair_scores(self.data, emp, pairs[:, 1])
            return pos_s, self.gbdt.pair_scores(self.data, emp.unsqueeze(1).expand_as(neg), neg)
        with torch.no_grad():
            h = self._encode(False)
            h_emp = h["employee"][emp.to(self.device)]  # [N, d]
            pos_s = self.net.preference(h_emp, h["position"][pairs[:, 1].to(self.device)])
            neg_s = self.net.preference(h_emp.unsqueeze(1), h["position"][neg.to(self.device)])
        return pos_s.cpu(), neg_s.cpu()

    def evaluate(self, split: str) -> dict[str, float]:
        logits = self._turnover_logits()
        probs = torch.sigmoid(logits)
        labels = self.data.turnover
        val_emp, emp = self.split_emp["val"].cpu(), self.split_emp[split].cpu()
        threshold = tune_threshold(probs[val_emp], labels[val_emp])
        p, y = probs[emp], labels[emp]
        aupr = average_precision(p, y)
        prevalence = float(y.mean())
        out = {
            "aupr": aupr,
            "auroc": auroc(p, y),
            **binary_metrics_at_threshold(p, y, threshold),
            "threshold": threshold,
            "turnover_loss": float(
                focal_loss(logits[emp], y, self.config.focal_alpha, self.config.focal_gamma)
            ),
        }
        pos_s, neg_s = self._pair_scores(split)
        pos_b = pos_s.unsqueeze(1).expand_as(neg_s)  # [N, K]
        out["pair_acc"] = pairwise_accuracy(pos_b, neg_s)
        out["mean_margin"] = float((pos_b - neg_s).mean())
        lift_turnover = (aupr - prevalence) / max(1.0 - prevalence, 1e-12)
        out["combined"] = 0.5 * lift_turnover + 0.5 * (out["pair_acc"] - 0.5) / 0.5
        return {k: float(v) for k, v in out.items()}

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "cache": self.cache.state_dict(),
            "margin": self.schedule.state_dict(),
            "stage": self.stage,
            "stage2_start": self.stage2_start,
            "stage1_best": self.stage1_best,
            "stage1_bad": self.stage1_bad,
            "stage1_weights": self.stage1_weights,
            "gbdt_fit_state": self.gbdt_fit_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.cache.load_state_dict(state["cache"])
        self.schedule.load_state_dict(state["margin"])
        self.stage, self.stage2_start = int(state["stage"]), int(state["stage2_start"])
        self.stage1_best, self.stage1_bad = float(state["stage1_best"]), int(state["stage1_bad"])
        self.stage1_weights = state["stage1_weights"]
        self.gbdt_fit_state, self.gbdt = state["gbdt_fit_state"], None
        if self.gbdt_fit_state is not None:  # refit deterministically from the generator state of the fit
            self.generator.set_state(self.gbdt_fit_state)
            self._gbdt_epoch()
        self.generator.set_state(state["generator"])
