"""The gradient-boosted-tree baseline of ``hetero_twostage`` (the GNN v6 report compared against XGBoost).

scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier` on the same node features the GNN
sees, without the graph: one model for turnover (employee features), one for preference (employee and position
features concatenated; label 1 for a training preference, 0 for uniform non-preferred positions,
``num_negatives`` per preference).

Boosting has no epochs, so under the trainable protocol the trees are fitted once, in the first epoch, and
every later epoch reports the same metrics: a flat curve that ASHA and the replication phase compare on equal
terms. The fit is deterministic given the generator state that drew the negatives, so a checkpoint stores that
state and a restored trial refits instead of pickling scikit-learn objects (checkpoints load with
``weights_only``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss

from trainables.common.data import PairIndex
from trainables.common.samplers.uniform import sample_negatives
from trainables.hetero_twostage.config import HeteroTwoStageConfig
from trainables.hetero_twostage.data import TRAIN, HeteroTaskData


@dataclass
class GBDTFit:
    """Fitted trees and their training log losses."""

    turnover: HistGradientBoostingClassifier
    preference: HistGradientBoostingClassifier
    turnover_loss: float
    pref_loss: float

    def turnover_probs(self, data: HeteroTaskData) -> torch.Tensor:
        """``[E]`` turnover probability of every employee."""
        return torch.from_numpy(self.turnover.predict_proba(data.emp_x.numpy())[:, 1]).float()

    def pair_scores(self, data: HeteroTaskData, emp: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Preference probability of pairs ``emp``, ``pos`` (same shape, any) -> same shape."""
        feats = _pair_features(data, emp.reshape(-1), pos.reshape(-1))
        return torch.from_numpy(self.preference.predict_proba(feats)[:, 1]).float().view(emp.shape)


def _pair_features(data: HeteroTaskData, emp: torch.Tensor, pos: torch.Tensor) -> np.ndarray:
    return torch.cat([data.emp_x[emp], data.pos_x[pos]], dim=1).numpy()  # [N, Fe + Fp]


def _classifier(config: HeteroTwoStageConfig) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=config.gbdt_max_iter,
        learning_rate=config.gbdt_learning_rate,
        max_leaf_nodes=config.gbdt_max_leaf_nodes,
        early_stopping=False,
        random_state=config.seed,
    )


def fit_gbdt(data: HeteroTaskData, config: HeteroTwoStageConfig, generator: torch.Generator) -> GBDTFit:
    """Fit both tree models on the training split; negatives come from ``generator``."""
    train_emp = (data.emp_split == TRAIN).nonzero().squeeze(1)
    x_t, y_t = data.emp_x[train_emp].numpy(), data.turnover[train_emp].numpy()
    turnover = _classifier(config).fit(x_t, y_t)

    pairs = data.pref_train  # [N, 2]
    exclude = PairIndex(pairs[:, 0], pairs[:, 1], data.num_positions)
    neg = sample_negatives(
        pairs[:, 0], config.num_negatives, data.num_positions, generator, exclude
    )  # [N, K]
    emp = torch.cat([pairs[:, 0], pairs[:, 0].repeat_interleave(config.num_negatives)])
    pos = torch.cat([pairs[:, 1], neg.reshape(-1)])
    y_p = np.concatenate([np.ones(pairs.size(0)), np.zeros(neg.numel())])
    x_p = _pair_features(data, emp, pos)
    preference = _classifier(config).fit(x_p, y_p)
    return GBDTFit(
        turnover=turnover,
        preference=preference,
        turnover_loss=float(log_loss(y_t, turnover.predict_proba(x_t)[:, 1], labels=[0, 1])),
        pref_loss=float(log_loss(y_p, preference.predict_proba(x_p)[:, 1], labels=[0, 1])),
    )
