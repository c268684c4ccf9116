"""The hybrid SASRec + GNN trainable: the seed system's training and leave-one-out evaluation behind the protocol.

Seed: a Kaggle experiment plan that fuses SASRec with a LightGCN item/user graph by a weight α and asks whether a
fixed α beats SASRec alone, which α is best, and whether α adapted to the history length (learnable per group,
continuous in log length, piecewise linear) does better; see :class:`~.model.Fusion` for the variants.

Training follows the seed: binary cross-entropy on the fused logit of each next item (every position of every
training sequence) against ``num_negatives`` sampled negatives that the user has never interacted with in training
(``neg_sampler``: uniform, or proportional to popularity for harder negatives). Two-stage training
(``gnn_pretrain_epochs > 0``) spends the first epochs on BPR for the graph encoder alone and then freezes it.

Each component scores by a cosine divided by ``temperature`` (``score: cosine``, the default) or by a dot product
(``score: dot``, as SASRec and LightGCN do on their own). Both parts are trained through the fused logit, so with
dot products the embeddings can grow to undo a small α; bounded cosine scores keep the two on one scale, so α is a
real trade-off (measured: α moves HR@10 about twice as much, and the best hybrid is better).

Evaluation is leave-one-out: a user's second-to-last item is the validation target (history = the rest before it),
the last item the test target (history = everything before it). Every item is ranked (full ranking, batched over
users) with the items of the history masked, and HR / NDCG / MRR at 5, 10, 20 are reported overall and per history
group (``short/…``, ``medium/…``, ``long/…`` with ``count``; the α mean and spread per group for adaptive fusions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from trainables.common.data import PairIndex, pad_from_flat
from trainables.common.losses import bce, bpr_loss
from trainables.common.metrics import (
    grouped_mean,
    grouped_std,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    ranking_metrics,
    ranks_from_scores,
)
from trainables.common.samplers.uniform import sample_negatives
from trainables.hybrid_sasrec_gnn.config import HybridConfig
from trainables.hybrid_sasrec_gnn.data import HybridData, SequenceDataset, load_sequences
from trainables.hybrid_sasrec_gnn.model import Fusion, GraphEncoder, SASRec
from trainables.protocol import MetricNames, Trainable, TrainableConfig

KS = (5, 10, 20)
GROUPS = ("short", "medium", "long")
#: (user, item) pairs per BPR batch while pretraining the graph encoder.
PRETRAIN_BATCH = 4096


@dataclass
class _EvalSplit:
    """What one leave-one-out split ranks: each user's history window, target and seen items."""

    seq: torch.Tensor  # [U, L] shifted item ids, left-padded with 0
    target: torch.Tensor  # [U] item ids
    lengths: torch.Tensor  # [U] history length before the target
    seen: PairIndex  # the history items, masked in the ranking


class HybridSASRecGNN(Trainable):
    """SASRec fused with a user–item GNN by α; see the module docstring and :class:`HybridConfig`."""

    Config = HybridConfig
    DataConfig = HybridData
    tiny_data = {"num_users": 48, "num_items": 30, "num_clusters": 3}
    tiny_config = {"dim": 16, "max_len": 16, "num_blocks": 1, "batch_size": 16, "max_epochs": 2}

    @classmethod
    def load_data(cls, data_config: HybridData) -> SequenceDataset:
        return load_sequences(data_config)

    @classmethod
    def metric_names(cls, config: TrainableConfig) -> MetricNames:
        overall = tuple(f"{m}@{k}" for k in KS for m in ("hr", "ndcg", "mrr")) + ("mrr", "mean_rank")
        return MetricNames(train=("loss",), eval=overall, extra=("stage",))

    def __init__(self, config: HybridConfig, data: SequenceDataset, device: torch.device) -> None:
        super().__init__(config, data, device)
        self.config: HybridConfig = config
        self.generator = torch.Generator().manual_seed(config.seed)
        num_users, num_items = data.num_users, data.num_items
        lengths = data.lengths.long()
        offsets = torch.cumsum(lengths, 0) - lengths  # [U]
        user_of = torch.repeat_interleave(torch.arange(num_users), lengths)  # [T]
        position = torch.arange(lengths.sum()) - offsets[user_of]  # [T] index inside the user's sequence
        train_sel = position < lengths[user_of] - 2
        history_sel = position < lengths[user_of] - 1
        train_users, train_items = user_of[train_sel], data.items[train_sel]
        self.train_lengths = lengths - 2  # [U]
        self.train_seen = PairIndex(train_users, train_items, num_items)

        window, in_window = pad_from_flat(train_items, self.train_lengths, config.max_len + 1)
        shifted = torch.where(in_window, window + 1, 0)  # [U, L + 1]
        self.train_input, self.train_next = shifted[:, :-1], shifted[:, 1:]  # [U, L] each
        self.train_rows = torch.nonzero(self.train_lengths >= 2).squeeze(1)  # users with a next-item pair

        def split(
            flat: torch.Tensor, rows: torch.Tensor, hist: torch.Tensor, target_at: torch.Tensor
        ) -> _EvalSplit:
            seq, real = pad_from_flat(flat, hist, config.max_len)
            return _EvalSplit(
                torch.where(real, seq + 1, 0), data.items[target_at], hist, PairIndex(rows, flat, num_items)
            )

        self.splits = {
            "val": split(train_items, train_users, lengths - 2, offsets + lengths - 2),
            "test": split(data.items[history_sel], user_of[history_sel], lengths - 1, offsets + lengths - 1),
        }
        pairs = self.train_seen.keys
        users, items = pairs // num_items, pairs % num_items + num_users
        edge_index = torch.stack([torch.cat([users, items]), torch.cat([items, users])])  # [2, 2E]
        self.pretrain_pairs = torch.stack([pairs // num_items, pairs % num_items])  # [2, E]
        counts = torch.bincount(train_items, minlength=num_items).float()
        self.neg_weights = counts if config.neg_sampler == "popularity" else None

        self.scale = 1.0 / config.temperature if config.score == "cosine" else 1.0
        fixed = config.fusion == "fixed"
        self.uses_sasrec = not (fixed and config.alpha == 0.0)
        self.uses_gnn = not (fixed and config.alpha == 1.0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)  # initial weights depend on the config's seed only
            self.sasrec = SASRec(
                num_items, config.dim, config.max_len, config.num_heads, config.num_blocks, config.dropout
            ).to(device)
            self.gnn = GraphEncoder(
                config.gnn, num_users, num_items, config.dim, config.gnn_layers, edge_index
            ).to(device)
            self.fusion = Fusion(
                config.fusion, config.alpha, config.short_max, config.long_min, config.alpha_l2
            )
            self.fusion.to(device)
        groups: list[dict[str, Any]] = [{"params": list(self.fusion.parameters()), "weight_decay": 0.0}]
        for used, module in ((self.uses_sasrec, self.sasrec), (self.uses_gnn, self.gnn)):
            if used:
                groups.append({"params": list(module.parameters()), "weight_decay": config.weight_decay})
        self.optimizer = torch.optim.Adam(groups, lr=config.lr)
        self.pretrain_epochs = config.gnn_pretrain_epochs if self.uses_gnn else 0
        self.pretrain_optimizer = (
            torch.optim.Adam(self.gnn.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            if self.pretrain_epochs
            else None
        )

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        """Unit rows for the cosine score (so α weighs two scores on the same bounded scale), else unchanged."""
        return F.normalize(x, dim=-1) if self.config.score == "cosine" else x

    # ----------------------------------------------------------------------------------------------- training
    def train_epoch(self, epoch: int) -> dict[str, float]:
        # dropout draws from torch's global generator: reseed it from ours, so all randomness follows config.seed
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            if epoch < self.pretrain_epochs:
                return {"loss": self._pretrain_epoch(), "stage": 0.0}
            frozen = self.pretrain_epochs > 0
            self.gnn.requires_grad_(not frozen)
            return {"loss": self._hybrid_epoch(frozen), "stage": 1.0}

    def _pretrain_epoch(self) -> float:
        """One BPR pass of the graph encoder over every training (user, item) pair."""
        assert self.pretrain_optimizer is not None
        self.gnn.train()
        num_pairs = self.pretrain_pairs.size(1)
        order = torch.randperm(num_pairs, generator=self.generator)
        total = 0.0
        for start in range(0, num_pairs, PRETRAIN_BATCH):
            users, pos = self.pretrain_pairs[:, order[start : start + PRETRAIN_BATCH]]  # [P] each
            neg = sample_negatives(users, 1, self.data.num_items, self.generator, self.train_seen).squeeze(1)
            user_emb, item_emb = self.gnn()
            u = user_emb[users.to(self.device)]  # [P, d]
            pos_s = (u * item_emb[pos.to(self.device)]).sum(-1)  # [P]
            neg_s = (u * item_emb[neg.to(self.device)]).sum(-1)  # [P]
            loss = bpr_loss(pos_s, neg_s)
            self.pretrain_optimizer.zero_grad()
            loss.backward()
            self.pretrain_optimizer.step()
            total += loss.item() * users.numel()
        return total / num_pairs

    def _hybrid_epoch(self, frozen: bool) -> float:
        """One pass over every training sequence: BCE of the fused next-item logit against sampled negatives."""
        self.sasrec.train()
        self.gnn.train()
        rows = self.train_rows[torch.randperm(self.train_rows.numel(), generator=self.generator)]
        frozen_emb = None
        if frozen and self.uses_gnn:
            with torch.no_grad():
                frozen_emb = self.gnn()
        total, count = 0.0, 0
        for start in range(0, rows.numel(), self.config.batch_size):
            batch = rows[start : start + self.config.batch_size]  # [B]
            inp = self.train_input[batch]  # [B, L]
            valid = inp != 0  # [B, L] positions with a next item
            users = batch.unsqueeze(1).expand_as(inp)[valid]  # [P]
            positives = self.train_next[batch][valid] - 1  # [P]
            negatives = sample_negatives(
                users, self.config.num_negatives, self.data.num_items, self.generator, self.train_seen,
                weights=self.neg_weights,
            )  # fmt: skip
            candidates = torch.cat([positives.unsqueeze(1), negatives], dim=1).to(self.device)  # [P, 1 + K]
            labels = torch.zeros(candidates.shape, device=self.device)
            labels[:, 0] = 1.0
            alpha = self.fusion(self.train_lengths[users].to(self.device)).unsqueeze(1)  # [P, 1]
            logits = torch.zeros(candidates.shape, device=self.device)
            if self.uses_sasrec:
                hidden = self._norm(self.sasrec(inp.to(self.device))[valid.to(self.device)])  # [P, d]
                table = self._norm(self.sasrec.item_table())  # [I, d]
                sas = (hidden.unsqueeze(1) * table[candidates]).sum(-1) * self.scale  # [P, 1 + K]
                logits = logits + alpha * sas
            if self.uses_gnn:
                user_emb, item_emb = map(self._norm, frozen_emb if frozen_emb is not None else self.gnn())
                graph = (user_emb[users.to(self.device)].unsqueeze(1) * item_emb[candidates]).sum(
                    -1
                ) * self.scale
                logits = logits + (1 - alpha) * graph
            loss = bce(logits, labels) + self.fusion.penalty().to(self.device)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item() * users.numel()
            count += users.numel()
        return total / max(count, 1)

    # --------------------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        part = self.splits[split]
        self.sasrec.eval()
        self.gnn.eval()
        user_emb, item_emb = map(self._norm, self.gnn()) if self.uses_gnn else (None, None)
        num_users = self.data.num_users
        ranks, alphas = [], []
        for start in range(0, num_users, self.config.eval_batch_size):
            batch = torch.arange(start, min(start + self.config.eval_batch_size, num_users))  # [B]
            alpha = self.fusion(part.lengths[batch].to(self.device)).unsqueeze(1)  # [B, 1]
            scores = torch.zeros(batch.numel(), self.data.num_items, device=self.device)  # [B, I]
            if self.uses_sasrec:
                last = self._norm(self.sasrec(part.seq[batch].to(self.device))[:, -1])  # [B, d]
                scores += alpha * self.scale * (last @ self._norm(self.sasrec.item_table()).t())
            if user_emb is not None and item_emb is not None:
                scores += (1 - alpha) * self.scale * (user_emb[batch.to(self.device)] @ item_emb.t())
            exclude = part.seen.mask(batch).to(self.device)  # [B, I]
            ranks.append(ranks_from_scores(scores, part.target[batch].to(self.device), exclude).cpu())
            alphas.append(alpha.squeeze(1).cpu())
        rank = torch.cat(ranks)  # [U]
        out = ranking_metrics(rank, KS)
        out.update(self._group_metrics(rank, torch.cat(alphas), self.fusion.groups(part.lengths)))
        return out

    def _group_metrics(
        self, rank: torch.Tensor, alpha: torch.Tensor, group: torch.Tensor
    ) -> dict[str, float]:
        """Per history-group HR/NDCG/MRR@k and count (NaN for an empty group), α statistics if adaptive."""
        per_user = {}
        for k in KS:
            per_user[f"hr@{k}"] = hit_rate_at_k(rank, k)
            per_user[f"ndcg@{k}"] = ndcg_at_k(rank, k)
            per_user[f"mrr@{k}"] = mrr_at_k(rank, k)
        if self.fusion.adaptive:
            per_user["alpha_mean"] = alpha
        out: dict[str, float] = {}
        counts = torch.bincount(group, minlength=len(GROUPS))
        for name, values in per_user.items():
            means, _ = grouped_mean(values, group, len(GROUPS))
            for g, label in enumerate(GROUPS):
                out[f"{label}/{name}"] = float(means[g])
        if self.fusion.adaptive:
            stds = grouped_std(alpha, group, len(GROUPS))
            for g, label in enumerate(GROUPS):
                out[f"{label}/alpha_std"] = float(stds[g])
        for g, label in enumerate(GROUPS):
            out[f"{label}/count"] = float(counts[g])
        return out

    # -------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "sasrec": self.sasrec.state_dict(),
            "gnn": self.gnn.state_dict(),
            "fusion": self.fusion.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "pretrain_optimizer": self.pretrain_optimizer.state_dict() if self.pretrain_optimizer else None,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sasrec.load_state_dict(state["sasrec"])
        self.gnn.load_state_dict(state["gnn"])
        self.fusion.load_state_dict(state["fusion"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.pretrain_optimizer is not None and state["pretrain_optimizer"] is not None:
            self.pretrain_optimizer.load_state_dict(state["pretrain_optimizer"])
        self.generator.set_state(state["generator"])
