"""Data utilities shared by the trainables: pair membership, padding, chronological splits."""

from __future__ import annotations

import torch


class PairIndex:
    """A set of ``(row, item)`` pairs with vectorised membership tests.

    Pairs are stored as sorted int64 keys ``row * num_items + item``; :meth:`contains` is a ``searchsorted``.
    """

    def __init__(self, rows: torch.Tensor, items: torch.Tensor, num_items: int) -> None:
        self.num_items = int(num_items)
        keys = rows.long().cpu() * self.num_items + items.long().cpu()
        self.keys = torch.unique(keys)  # sorted

    def contains(self, rows: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor of the broadcast shape of ``rows`` and ``items``: is each pair in the set?"""
        keys = rows.long().cpu() * self.num_items + items.long().cpu()
        if self.keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, keys).clamp(max=self.keys.numel() - 1)
        return self.keys[pos] == keys

    def mask(self, rows: torch.Tensor) -> torch.Tensor:
        """``[len(rows), num_items]`` bool mask of each row's pairs (for masking seen items in full ranking)."""
        rows = rows.long().cpu()
        lo = torch.searchsorted(self.keys, rows * self.num_items)
        hi = torch.searchsorted(self.keys, (rows + 1) * self.num_items)
        counts = hi - lo
        out = torch.zeros(rows.numel(), self.num_items, dtype=torch.bool)
        if int(counts.sum()) == 0:
            return out
        which = torch.repeat_interleave(torch.arange(rows.numel()), counts)
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        keys = self.keys[torch.repeat_interleave(lo, counts) + offsets]
        out[which, keys % self.num_items] = True
        return out


def pad_from_flat(
    values: torch.Tensor, lengths: torch.Tensor, max_len: int, pad_value: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad ragged sequences stored flat, keeping the most recent ``max_len`` of each.

    Args:
        values: ``[T]`` concatenation of all sequences, each in time order.
        lengths: ``[B]`` length of each sequence (``sum(lengths) == T``).
        max_len: padded length ``L``.

    Returns:
        ``(padded [B, L], mask [B, L])``; ``mask`` is true on real positions, which sit at the right end.
    """
    lengths = lengths.long()
    ends = torch.cumsum(lengths, 0)  # one past each sequence's last value
    kept = lengths.clamp(max=max_len)  # [B]
    j = torch.arange(max_len)  # [L]
    mask = j.unsqueeze(0) >= (max_len - kept).unsqueeze(1)  # [B, L]
    src = ends.unsqueeze(1) - max_len + j.unsqueeze(0)  # [B, L]
    src = src.clamp(min=0, max=max(values.numel() - 1, 0))
    padded = torch.where(mask, values[src] if values.numel() else torch.full_like(src, pad_value), pad_value)
    return padded, mask


def chronological_split(
    timestamps: torch.Tensor, fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of train / val / test events split by time (events sorted by timestamp, stable)."""
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    order = torch.argsort(timestamps, stable=True)
    n = order.numel()
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
