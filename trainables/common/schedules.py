"""Schedules shared by the trainables: small, pure rules that move a training knob between epochs.

* :func:`adapt_margin` / :class:`AdaptiveMargin` — a ranking margin that rises while validation pairwise
  accuracy is high and falls while it is low (the GNN v6 report's adaptive margin loss).
* :func:`curriculum_ratio` — a ratio that is 0 before a start epoch, then jumps or ramps to its target
  (hard-negative curriculum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def adapt_margin(
    margin: float,
    accuracy: float,
    *,
    lower: float = 0.52,
    upper: float = 0.6,
    step: float = 0.1,
    min_margin: float = 0.5,
    max_margin: float = 3.0,
) -> float:
    """One step of the adaptive margin: ``+step`` if ``accuracy > upper``, ``-step`` if ``accuracy < lower``.

    The GNN v6 report (defaults above) raised the hinge margin when validation pairwise accuracy exceeded 0.6
    (the pairs are being separated: ask for more separation, a curriculum towards harder targets) and lowered it
    below 0.52 (near chance: an unreachable margin only adds noise). Between the thresholds the margin stays.
    The result is clipped to ``[min_margin, max_margin]`` (the report: a 3.0 ceiling; it settled at 0.5).
    """
    if accuracy > upper:
        margin = margin + step
    elif accuracy < lower:
        margin = margin - step
    return float(min(max(margin, min_margin), max_margin))


@dataclass
class AdaptiveMargin:
    """:func:`adapt_margin` with its current value held explicitly (``state_dict`` for checkpoints)."""

    margin: float = 1.0
    lower: float = 0.52
    upper: float = 0.6
    step: float = 0.1
    min_margin: float = 0.5
    max_margin: float = 3.0

    def __post_init__(self) -> None:
        if not self.min_margin <= self.margin <= self.max_margin:
            raise ValueError(f"margin {self.margin} outside [{self.min_margin}, {self.max_margin}]")
        if self.lower > self.upper:
            raise ValueError(f"lower threshold {self.lower} above upper threshold {self.upper}")

    def update(self, accuracy: float) -> float:
        """Move the margin after an epoch whose validation pairwise accuracy was ``accuracy``; return it."""
        self.margin = adapt_margin(
            self.margin,
            accuracy,
            lower=self.lower,
            upper=self.upper,
            step=self.step,
            min_margin=self.min_margin,
            max_margin=self.max_margin,
        )
        return self.margin

    def state_dict(self) -> dict[str, Any]:
        return {"margin": self.margin}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.margin = float(state["margin"])


def curriculum_ratio(epoch: int, start_epoch: int, target: float, ramp_epochs: int = 0) -> float:
    """Ratio of a curriculum that is off before ``start_epoch`` and reaches ``target`` after a linear ramp.

    Epochs count from 0. Before ``start_epoch`` the ratio is 0 (easy phase: the seed system's random batches
    while the model is weak); with ``ramp_epochs = 0`` it jumps to ``target`` at ``start_epoch`` (the seed's
    switch); otherwise it grows linearly and reaches ``target`` at epoch ``start_epoch + ramp_epochs - 1``.

    Example: ``start_epoch=2, target=0.6, ramp_epochs=3`` gives ``0, 0, 0.2, 0.4, 0.6, 0.6, ...``.
    """
    if epoch < start_epoch:
        return 0.0
    if ramp_epochs <= 0:
        return float(target)
    return float(target) * min(1.0, (epoch - start_epoch + 1) / ramp_epochs)
