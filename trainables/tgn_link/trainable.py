"""``tgn_link``: temporal link prediction with a TGN, BCE/focal loss and hard negative mining.

Seed system: a post-mortem of hard negative mining for investor→company link prediction with a TGN. Training
draws ``n_negatives`` negatives per positive event, a share of them "hard" (among the ``hard_neg_k`` most similar
candidates, softmax(similarity / temperature)); the loss is BCE or focal; evaluation ranks *every*
(source, destination) pair of the validation/test period (199 × 858 = 170,742 pairs in the seed) and reports
Precision@K, Recall@K, the median rank of the true links and the lift over random. The seed found static-feature
hard negatives harmful (Precision@1000 0.3% → 0.1%) and proposed temporal-memory or graph 2-hop negatives, gentler
ratio/temperature and a curriculum; every one of those is a knob here, so a search can answer its question.

Memory discipline (no leakage): memory and neighbour lists are reset at the start of every training epoch and fed
the training events in time order; after the epoch the state is frozen. Validation is scored from that state
(training events only); test is scored after also feeding the validation events. Scores of a period never see its
own events.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import Field, field_validator

from trainables.common.data import PairIndex
from trainables.common.losses import bce, focal_loss, weighted_bce
from trainables.common.metrics import auroc, average_precision, positive_ranks, precision_recall_at_k
from trainables.common.samplers.hard import (
    co_links,
    cosine_scores,
    mix_negatives,
    sample_topk_softmax,
    scheduled_ratio,
    two_hop_scores,
)
from trainables.common.samplers.uniform import sample_negatives
from trainables.protocol import DataConfig, DataError, MetricNames, Trainable, TrainableConfig
from trainables.tgn_link.data import TemporalLinks, generate_synthetic, load_jodie_csv
from trainables.tgn_link.model import TGN


class TGNLinkDataConfig(DataConfig):
    """Synthetic temporal bipartite graph (see :func:`generate_synthetic`) or a JODIE CSV file."""

    source: Literal["synthetic", "jodie"] = Field(
        "synthetic", description="Embedded generator or a JODIE CSV."
    )
    path: str | None = Field(
        None, description="JODIE CSV path (user,item,timestamp,state_label,features...)."
    )
    num_src: int = Field(400, ge=2, le=1_000_000, description="Synthetic sources (the seed's companies).")
    num_dst: int = Field(
        900, ge=2, le=1_000_000, description="Synthetic destinations (the seed's investors)."
    )
    num_events: int = Field(2000, ge=20, le=10_000_000, description="Synthetic events; sets positive rarity.")
    num_communities: int = Field(8, ge=1, le=1000, description="Communities of sources and destinations.")
    drift_steps: int = Field(3, ge=0, le=100, description="Preference shifts over the whole time span.")
    repeat_prob: float = Field(
        0.3, ge=0.0, le=1.0, description="Chance an event repeats the source's last link."
    )
    feature_signal: float = Field(
        0.3, ge=0.0, le=10.0, description="Community signal in static features (noise has scale 1)."
    )
    feat_dim: int = Field(8, ge=1, le=1024, description="Static feature dimension.")
    msg_dim: int = Field(8, ge=1, le=1024, description="Edge message dimension.")


class TGNLinkConfig(TrainableConfig):
    """Every knob of the TGN link predictor, its loss, its negative sampler and its evaluation."""

    lr: float = Field(5e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    memory_dim: int = Field(32, ge=2, le=1024, description="TGN memory (GRU state) dimension.")
    time_dim: int = Field(16, ge=1, le=1024, description="Time-encoding dimension.")
    embedding_dim: int = Field(32, ge=2, le=1024, description="Graph-attention embedding dimension (even).")
    num_neighbors: int = Field(10, ge=1, le=200, description="Most recent neighbours attended to per node.")
    batch_size: int = Field(
        100, ge=1, le=100_000, description="Events per training batch (memory granularity)."
    )
    loss: Literal["bce", "weighted_bce", "focal"] = Field(
        "focal", description="Binary loss on pos/neg logits."
    )
    pos_weight: float = Field(1.0, gt=0.0, le=10_000.0, description="Positive weight of weighted_bce.")
    focal_alpha: float = Field(0.25, ge=0.0, le=1.0, description="Focal loss weight of the positive class.")
    focal_gamma: float = Field(2.0, ge=0.0, le=10.0, description="Focal loss focusing exponent.")
    n_negatives: int = Field(1, ge=1, le=256, description="Negatives per positive event (the seed used 1).")
    hard_neg_ratio: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of negatives drawn by the hard sampler."
    )
    hard_neg_k: int = Field(20, ge=1, le=100_000, description="Hard pool: the k most similar candidates.")
    hard_neg_temperature: float = Field(
        1.0, gt=0.0, le=1000.0, description="Softmax temperature over the pool's similarities (low = greedy)."
    )
    hard_neg_source: Literal["static", "temporal", "graph"] = Field(
        "static",
        description="Similarity: static features, TGN memory, or 2-hop co-links in the graph so far.",
    )
    refresh_every: int = Field(
        5, ge=1, le=100_000, description="Batches between refreshes of the temporal/graph similarity cache."
    )
    curriculum_epoch: int = Field(0, ge=0, le=100_000, description="Epochs of random-only negatives first.")
    ramp_epochs: int = Field(0, ge=0, le=100_000, description="Linear ramp of the hard ratio (0: no ramp).")
    eval_ks: list[Annotated[int, Field(ge=1)]] = Field(
        [100, 1000], min_length=1, max_length=8, description="K values of Precision/Recall/lift@K."
    )

    eval_chunk_pairs: int = Field(
        4096, ge=256, le=1 << 28, description="Pairs per chunk of the full-ranking scorer (cache-sized)."
    )

    @field_validator("eval_ks", mode="before")
    @classmethod
    def _parse_ks(cls, value: Any) -> Any:
        """Accept the JSON text ``"[100, 1000]"`` too: that is how a list comes back from ``summary.csv``."""
        return json.loads(value) if isinstance(value, str) else value


class TGNLink(Trainable):
    """TGN link prediction (torch-geometric TGN pieces) with focal loss and hard negative mining."""

    Config: ClassVar[type[TrainableConfig]] = TGNLinkConfig
    DataConfig: ClassVar[type[DataConfig]] = TGNLinkDataConfig
    tiny_data: ClassVar[dict[str, Any]] = {"num_src": 40, "num_dst": 60, "num_events": 300}
    tiny_config: ClassVar[dict[str, Any]] = {
        "memory_dim": 8,
        "time_dim": 4,
        "embedding_dim": 8,
        "num_neighbors": 4,
        "batch_size": 50,
        "hard_neg_ratio": 0.5,
        "hard_neg_source": "temporal",
        "refresh_every": 2,
        "eval_ks": [10, 100],
    }

    config: TGNLinkConfig
    data: TemporalLinks

    @classmethod
    def load_data(cls, data_config: DataConfig) -> TemporalLinks:
        assert isinstance(data_config, TGNLinkDataConfig)
        c = data_config
        if c.source == "jodie":
            if c.path is None:
                raise DataError("data.path: missing; source 'jodie' needs the path of a JODIE CSV file")
            return load_jodie_csv(c.path)
        return generate_synthetic(
            c.num_src,
            c.num_dst,
            c.num_events,
            c.num_communities,
            c.drift_steps,
            c.repeat_prob,
            c.feature_signal,
            c.feat_dim,
            c.msg_dim,
            c.seed,
        )

    @classmethod
    def metric_names(cls, config: TrainableConfig) -> MetricNames:
        assert isinstance(config, TGNLinkConfig)
        at_k = [f"{m}@{k}" for k in config.eval_ks for m in ("precision", "recall", "lift")]
        rest = ("median_rank", "mean_rank", "mrr", "ap", "auroc", "base_rate")
        return MetricNames(train=("loss", "hard_share"), eval=(*at_k, *rest), extra=("hard_ratio",))

    def __init__(self, config: TrainableConfig, data: TemporalLinks, device: torch.device) -> None:
        super().__init__(config, data, device)
        cfg = self.config
        if cfg.embedding_dim % 2:
            raise ValueError(f"embedding_dim must be even (two attention heads), got {cfg.embedding_dim}")
        self.num_src, self.num_dst = data.num_src, data.num_dst
        self.generator = torch.Generator().manual_seed(cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # parameter init from the trial seed, not from whatever ran before
            self.net = TGN(
                self.num_src + self.num_dst,
                data.msg.size(1),
                cfg.memory_dim,
                cfg.time_dim,
                cfg.embedding_dim,
                cfg.num_neighbors,
                device,
            ).to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.t = data.t.to(device)  # [E]
        self.msg = data.msg.to(device)  # [E, m]
        self.train_pairs = PairIndex(data.src[: data.n_train], data.dst[: data.n_train], self.num_dst)
        self.net.reset_state()
        self.post_train = self.net.snapshot()  # event state after the last training epoch
        self._co_links = torch.zeros(self.num_dst, self.num_dst)  # graph-source cache, rebuilt every epoch

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if cfg.loss == "focal":
            return focal_loss(logits, targets, cfg.focal_alpha, cfg.focal_gamma)
        if cfg.loss == "weighted_bce":
            return weighted_bce(logits, targets, cfg.pos_weight)
        return bce(logits, targets)

    def _hard_candidates(
        self, src: torch.Tensor, dst: torch.Tensor, cache: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Similarity ``[B, D]`` of every destination for each event and the forbidden mask ``[B, D]``."""
        forbidden = self.train_pairs.mask(src)  # [B, D] the source's true positives
        source = self.config.hard_neg_source
        if source == "graph":
            scores, valid = two_hop_scores(cache, src, self._co_links)
            return scores, forbidden | ~valid
        # static features or temporal memory of destinations: similar to the positive destination
        scores = cosine_scores(cache[dst], cache)  # [B, D]
        empty = cache.abs().sum(dim=1) == 0  # [D] no memory yet: no similarity to speak of
        forbidden |= empty.unsqueeze(0) | empty[dst].unsqueeze(1)
        return scores, forbidden

    def _refresh_cache(self, adjacency: torch.Tensor) -> torch.Tensor:
        source = self.config.hard_neg_source
        if source == "static":
            return self.data.dst_feat
        if source == "temporal":
            # forward() in training mode applies the pending messages: the memory as of the last event seen
            dst_nodes = torch.arange(self.num_src, self.num_src + self.num_dst, device=self.device)
            with torch.no_grad():
                memory, _ = self.net.memory(dst_nodes)  # [D, memory_dim]
            seen = adjacency.any(dim=0)  # [D] unseen destinations share the GRU's bias state: not similar
            return memory.cpu() * seen.unsqueeze(1)
        self._co_links = co_links(adjacency)  # [D, D]
        return adjacency.clone()  # [S, D]

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, data, S = self.config, self.data, self.num_src
        ratio = scheduled_ratio(epoch, cfg.hard_neg_ratio, cfg.curriculum_epoch, cfg.ramp_epochs)
        self.net.train()
        self.net.reset_state()
        adjacency = torch.zeros(S, self.num_dst)  # links seen so far this epoch (graph source)
        cache = self._refresh_cache(adjacency)
        total_loss, n_hard, n_neg, n_batches = 0.0, 0, 0, 0
        for b, start in enumerate(range(0, data.n_train, cfg.batch_size)):
            stop = min(start + cfg.batch_size, data.n_train)
            src, dst = data.src[start:stop], data.dst[start:stop]  # [B], [B] (CPU)
            neg = sample_negatives(src, cfg.n_negatives, self.num_dst, self.generator, self.train_pairs)
            if ratio > 0:
                if b % cfg.refresh_every == 0:
                    cache = self._refresh_cache(adjacency)
                scores, forbidden = self._hard_candidates(src, dst, cache)
                hard, found = sample_topk_softmax(
                    scores,
                    cfg.n_negatives,
                    cfg.hard_neg_k,
                    cfg.hard_neg_temperature,
                    self.generator,
                    forbidden,
                )
                neg, is_hard = mix_negatives(neg, hard, found, ratio, self.generator)
                n_hard += int(is_hard.sum())
            n_neg += neg.numel()

            src_d, dst_d, neg_d = src.to(self.device), (dst + S).to(self.device), (neg + S).to(self.device)
            self.optimizer.zero_grad()
            n_id = torch.cat([src_d, dst_d, neg_d.flatten()]).unique()
            z, assoc = self.net.embed(n_id, self.t, self.msg)
            z_src = z[assoc[src_d]]  # [B, d]
            pos = self.net.predictor(z_src, z[assoc[dst_d]])  # [B]
            negs = self.net.predictor(
                z_src.unsqueeze(1).expand(-1, cfg.n_negatives, -1), z[assoc[neg_d]]
            )  # [B, n]
            logits = torch.cat([pos, negs.flatten()])
            targets = torch.cat([torch.ones_like(pos), torch.zeros_like(negs.flatten())])
            loss = self._loss(logits, targets)
            self.net.observe(src_d, dst_d, self.t[start:stop], self.msg[start:stop])
            adjacency[src, dst] = 1.0
            loss.backward()
            self.optimizer.step()
            self.net.memory.detach()
            total_loss += float(loss.detach())
            n_batches += 1
        with torch.no_grad():
            self.net.eval()  # flushes the message store into memory: the frozen post-training state
        self.post_train = self.net.snapshot()
        return {
            "loss": total_loss / max(1, n_batches),
            "hard_share": n_hard / max(1, n_neg),
            "hard_ratio": float(ratio),
        }

    @torch.no_grad()
    def state_before(self, split: str) -> dict[str, torch.Tensor | int]:
        """Event state used to score ``split``: training events only for val, training + val events for test."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        self.net.eval()
        self.net.restore(self.post_train)
        if split == "test":
            start, stop = self.data.split_range("val")
            for i in range(start, stop, self.config.batch_size):
                j = min(i + self.config.batch_size, stop)
                src = self.data.src[i:j].to(self.device)
                dst = (self.data.dst[i:j] + self.num_src).to(self.device)
                self.net.observe(src, dst, self.t[i:j], self.msg[i:j])
        return self.net.snapshot()

    @torch.no_grad()
    def score_matrix(self, split: str) -> torch.Tensor:
        """``[S, D]`` logits of every (source, destination) pair for the period ``split``."""
        self.state_before(split)
        n_id = torch.arange(self.num_src + self.num_dst, device=self.device)
        z, assoc = self.net.embed(n_id, self.t, self.msg)
        z = z[assoc[n_id]]
        return self.net.predictor.score_all(
            z[: self.num_src], z[self.num_src :], self.config.eval_chunk_pairs
        )

    def labels(self, split: str) -> torch.Tensor:
        """``[S, D]`` bool: pairs linked at least once during ``split``."""
        start, stop = self.data.split_range(split)
        out = torch.zeros(self.num_src, self.num_dst, dtype=torch.bool)
        out[self.data.src[start:stop], self.data.dst[start:stop]] = True
        return out

    def evaluate(self, split: str) -> dict[str, float]:
        scores = self.score_matrix(split).flatten().cpu()  # [S * D]
        return full_ranking_metrics(scores, self.labels(split).flatten(), self.config.eval_ks)

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "post_train": self.post_train,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.post_train = dict(state["post_train"])


def full_ranking_metrics(scores: torch.Tensor, labels: torch.Tensor, ks: list[int]) -> dict[str, float]:
    """The seed's evaluation of a flat candidate list: P/R/lift@K, median/mean rank, MRR, AP, AUROC, base rate.

    ``lift@K`` is Precision@K over the base rate (the seed's "vs random"); ranks count only negatives above a
    positive (see :func:`~trainables.common.metrics.positive_ranks`); MRR is the mean of their inverses.
    """
    labels = labels.bool()
    base_rate = float(labels.float().mean())
    out = precision_recall_at_k(scores, labels, ks)
    for k in ks:
        out[f"lift@{k}"] = out[f"precision@{k}"] / base_rate if base_rate > 0 else 0.0
    ranks = positive_ranks(scores, labels).double()
    has_pos = ranks.numel() > 0
    out["median_rank"] = float(ranks.quantile(0.5)) if has_pos else float("nan")
    out["mean_rank"] = float(ranks.mean()) if has_pos else float("nan")
    out["mrr"] = float((1.0 / ranks).mean()) if has_pos else float("nan")
    out["ap"] = average_precision(scores, labels)
    out["auroc"] = auroc(scores, labels)
    out["base_rate"] = base_rate
    return out
