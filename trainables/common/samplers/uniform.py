"""Uniform and popularity-weighted negative sampling with exclusion of known positives.

Exclusion is vectorised: positives are encoded as sorted ``row * num_items + item`` keys and membership is a
``searchsorted``; colliding draws are redrawn in rounds (a loop over rounds, never over samples).
"""

from __future__ import annotations

import torch

from trainables.common.data import PairIndex


def sample_negatives(
    rows: torch.Tensor,
    num_negatives: int,
    num_items: int,
    generator: torch.Generator,
    exclude: PairIndex | None = None,
    weights: torch.Tensor | None = None,
    max_rounds: int = 100,
) -> torch.Tensor:
    """Draw ``num_negatives`` items per row, never one of that row's excluded items.

    Args:
        rows: ``[B]`` row ids (users, sources) whose positives are in ``exclude``.
        num_negatives: negatives per row.
        num_items: candidates are ``0 .. num_items - 1``.
        generator: the caller's random generator (CPU).
        exclude: the positive pairs to avoid; ``None`` excludes nothing.
        weights: optional ``[num_items]`` non-negative sampling weights (popularity); uniform when ``None``.
        max_rounds: redraw rounds for collisions; rows whose positives cover (almost) every item keep their last
            draw after that, so the call always terminates.

    Returns:
        ``[B, num_negatives]`` long tensor on ``rows.device``.
    """
    shape = (rows.numel(), num_negatives)
    device = rows.device

    def draw(n: int) -> torch.Tensor:
        if weights is None:
            return torch.randint(num_items, (n,), generator=generator)
        return torch.multinomial(weights.float().cpu(), n, replacement=True, generator=generator)

    out = draw(shape[0] * shape[1]).view(shape)
    if exclude is None or num_negatives == 0:
        return out.to(device)
    row_ids = rows.cpu().unsqueeze(1).expand(shape)
    bad = exclude.contains(row_ids, out)
    for _ in range(max_rounds):
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        out[bad] = draw(n_bad)
        bad = exclude.contains(row_ids, out)
    return out.to(device)
