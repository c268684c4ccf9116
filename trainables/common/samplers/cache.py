"""Cached hard negatives: each row's top ``cache_size`` non-positive items by the model's own scores.

The GNN v6 report (employee → position preferences) kept, per user, the 5 positions the current model scores
highest among those the user does *not* prefer, refreshed that cache every 5 epochs, and drew 70 % of the
training negatives from it and 30 % uniformly. Scoring every item for every user each step would cost a full
ranking per batch; a cache refreshed every ``refresh_every`` epochs costs one full ranking per period, and the
staleness it brings is itself a knob.

:func:`top_negatives` is the pure core; :class:`HardNegativeCache` holds the cache and its refresh counter so
a checkpoint can resume bit-for-bit (``state_dict`` holds only tensors and ints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from trainables.common.data import PairIndex
from trainables.common.samplers.uniform import sample_negatives


def top_negatives(scores: torch.Tensor, positives: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest-scoring items of each row that are not its positives.

    Args:
        scores: ``[U, I]`` current scores.
        positives: ``[U, I]`` bool mask of each row's positives (never returned).
        k: cache size (clipped to ``I``).

    Returns:
        ``(items [U, k] long, valid [U, k] bool)``, best first; ``valid`` is false where a row has fewer than
        ``k`` non-positive items (those slots hold arbitrary items and must not be used). Ties go to the lower
        item index.
    """
    k = min(k, scores.size(1))
    masked = scores.float().masked_fill(positives, float("-inf"))
    values, items = torch.topk(masked, k, dim=1, sorted=True)
    return items, torch.isfinite(values)


class HardNegativeCache:
    """Mixes cached hard negatives (share ``hard_ratio``) with uniform ones; never returns a positive.

    Args:
        num_rows: rows (users) ``0 .. num_rows - 1``.
        num_items: items ``0 .. num_items - 1``.
        cache_size: hard candidates kept per row (the seed: 5; its next step: 10).
        hard_ratio: probability that a negative comes from the cache (the seed: 0.7; next step: 0.85).
            Each draw is hard independently, so the realised share is ``hard_ratio`` in expectation.
        refresh_every: epochs between refreshes (the seed: 5); the first call always refreshes.
        exclude: the positive pairs, never returned by either part.
    """

    def __init__(
        self,
        num_rows: int,
        num_items: int,
        cache_size: int,
        hard_ratio: float,
        refresh_every: int,
        exclude: PairIndex,
    ) -> None:
        if not 0.0 <= hard_ratio <= 1.0:
            raise ValueError(f"hard_ratio must be in [0, 1], got {hard_ratio}")
        if cache_size < 1 or refresh_every < 1:
            raise ValueError(f"cache_size and refresh_every must be >= 1, got {cache_size}, {refresh_every}")
        self.num_rows, self.num_items = int(num_rows), int(num_items)
        self.cache_size, self.hard_ratio, self.refresh_every = (
            int(cache_size),
            float(hard_ratio),
            int(refresh_every),
        )
        self.exclude = exclude
        k = min(self.cache_size, self.num_items)
        self.items = torch.zeros(self.num_rows, k, dtype=torch.long)  # [U, k]
        self.valid = torch.zeros(self.num_rows, k, dtype=torch.bool)  # [U, k]
        self.last_refresh = -1  # epoch of the last refresh; -1 before the first
        self.refreshes = 0

    def due(self, epoch: int) -> bool:
        """Whether the cache must be rebuilt at ``epoch``: never built, or ``refresh_every`` epochs old."""
        return self.last_refresh < 0 or epoch - self.last_refresh >= self.refresh_every

    def refresh(self, scores: torch.Tensor, epoch: int) -> None:
        """Rebuild the cache from ``[U, I]`` scores of every row and item."""
        positives = self.exclude.mask(torch.arange(self.num_rows))  # [U, I]
        items, valid = top_negatives(scores.detach().cpu(), positives, self.cache_size)
        self.items, self.valid = items, valid
        self.last_refresh, self.refreshes = int(epoch), self.refreshes + 1

    def maybe_refresh(self, epoch: int, score_all: Callable[[], torch.Tensor]) -> bool:
        """Refresh from ``score_all()`` (called only when due); returns whether it refreshed."""
        if not self.due(epoch):
            return False
        self.refresh(score_all(), epoch)
        return True

    def sample(
        self, rows: torch.Tensor, num_negatives: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``num_negatives`` negatives per row.

        Returns:
            ``(negatives [B, K] long, is_hard [B, K] bool)`` on ``rows.device``; ``is_hard`` marks cache draws
            (a row whose cache is empty gets uniform negatives only).
        """
        device = rows.device
        rows = rows.cpu()
        shape = (rows.numel(), num_negatives)
        n_valid = self.valid[rows].sum(1, keepdim=True)  # [B, 1]; valid slots are the first n_valid
        is_hard = (torch.rand(shape, generator=generator) < self.hard_ratio) & (n_valid > 0)
        slot = (
            (torch.rand(shape, generator=generator) * n_valid)
            .long()
            .clamp(max=max(self.items.size(1) - 1, 0))
        )
        cached = self.items[rows.unsqueeze(1).expand(shape), slot]  # [B, K]
        uniform = sample_negatives(rows, num_negatives, self.num_items, generator, exclude=self.exclude)
        return torch.where(is_hard, cached, uniform).to(device), is_hard.to(device)

    def state_dict(self) -> dict[str, Any]:
        return {
            "items": self.items.clone(),
            "valid": self.valid.clone(),
            "last_refresh": self.last_refresh,
            "refreshes": self.refreshes,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.items, self.valid = state["items"].clone(), state["valid"].clone()
        self.last_refresh, self.refreshes = int(state["last_refresh"]), int(state["refreshes"])
