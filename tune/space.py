"""Our YAML distributions → Ray Tune domains and Optuna distributions (pure functions, no Ray started).

A dimension is a one-key mapping::

    {grid: [a, b, c]}            every value is tried (Ray's grid_search)
    {choice: [a, b]}             one value drawn uniformly
    {uniform: [low, high]}       {quniform: [low, high, q]}
    {loguniform: [low, high]}    {qloguniform: [low, high, q]}
    {randint: [low, high]}       integers in [low, high)      {qrandint: [low, high, q]}  (high inclusive)

Keys may be nested mappings or dotted paths; Optuna sees flat ``a/b`` names, as Ray's own converter does.

How ``grid`` meets each algorithm (documented in the README):

* ``grid`` — every dimension must be ``grid`` or ``choice``; the full product is run ``num_samples`` times;
* ``random`` — grid dimensions are crossed, the others sampled; ``num_samples`` repeats the grid;
* ``optuna`` — model-based searchers cannot take ``grid_search``, so a ``grid`` dimension becomes a categorical
  that TPE chooses from and ``num_samples`` is the total number of trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

KINDS = ("grid", "choice", "uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint")
_ARITY = {"uniform": 2, "quniform": 3, "loguniform": 2, "qloguniform": 3, "randint": 2, "qrandint": 3}


class SpaceError(ValueError):
    """A malformed dimension; ``key`` is the dotted path, ``value`` the offending definition."""

    def __init__(self, key: str, value: Any, message: str, allowed: str | None = None) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(message)


@dataclass(frozen=True)
class Dimension:
    """One searched knob: its dotted path, its kind and its arguments."""

    key: str
    kind: str
    args: tuple[Any, ...]

    @property
    def is_enumerated(self) -> bool:
        return self.kind in ("grid", "choice")

    def endpoints(self) -> list[Any]:
        """Values that must each be valid for the trainable's config (all options, or both bounds)."""
        if self.is_enumerated:
            return list(self.args)
        low, high = self.args[0], self.args[1]
        if self.kind == "randint":
            return [low, high - 1]
        return [low, high]


def _is_dimension(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS


def parse_space(space: dict[str, Any], prefix: str = "") -> list[Dimension]:
    """Flatten a (nested or dotted) space mapping into validated dimensions."""
    dims: list[Dimension] = []
    for name, value in space.items():
        key = f"{prefix}{name}"
        if _is_dimension(value):
            dims.append(_parse_dimension(key, value))
        elif isinstance(value, dict) and value and not any(k in KINDS for k in value):
            dims.extend(parse_space(value, prefix=f"{key}."))
        else:
            raise SpaceError(key, value, "not a search dimension", allowed="one of " + ", ".join(KINDS))
    return dims


def _parse_dimension(key: str, value: dict[str, Any]) -> Dimension:
    kind, args = next(iter(value.items()))
    if kind in ("grid", "choice"):
        if not isinstance(args, list) or not args:
            raise SpaceError(f"{key}.{kind}", args, "needs a non-empty list of values")
        return Dimension(key, kind, tuple(args))
    arity = _ARITY[kind]
    if not isinstance(args, list) or len(args) != arity:
        shape = "[low, high]" if arity == 2 else "[low, high, q]"
        raise SpaceError(f"{key}.{kind}", args, f"needs a list {shape}")
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a):
            raise SpaceError(f"{key}.{kind}", args, f"bounds must be finite numbers, got {a!r}")
    low, high = args[0], args[1]
    if kind in ("randint", "qrandint") and not all(isinstance(a, int) for a in args):
        raise SpaceError(f"{key}.{kind}", args, "bounds of an integer range must be integers")
    if not low < high:
        raise SpaceError(f"{key}.{kind}", args, "low must be smaller than high")
    if kind in ("loguniform", "qloguniform") and low <= 0:
        raise SpaceError(f"{key}.{kind}", args, "a log scale needs low > 0")
    if arity == 3 and args[2] <= 0:
        raise SpaceError(f"{key}.{kind}", args, "the step q must be > 0")
    return Dimension(key, kind, tuple(args))


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def to_ray(dims: list[Dimension], algorithm: str) -> dict[str, Any]:
    """Ray Tune domains, nested like the config. For ``optuna`` a grid becomes ``tune.choice``."""
    from ray import tune

    flat: dict[str, Any] = {}
    for d in dims:
        a = d.args
        if d.kind == "grid":
            flat[d.key] = tune.choice(list(a)) if algorithm == "optuna" else tune.grid_search(list(a))
        elif d.kind == "choice":
            flat[d.key] = tune.grid_search(list(a)) if algorithm == "grid" else tune.choice(list(a))
        elif d.kind == "uniform":
            flat[d.key] = tune.uniform(a[0], a[1])
        elif d.kind == "quniform":
            flat[d.key] = tune.quniform(a[0], a[1], a[2])
        elif d.kind == "loguniform":
            flat[d.key] = tune.loguniform(a[0], a[1])
        elif d.kind == "qloguniform":
            flat[d.key] = tune.qloguniform(a[0], a[1], a[2])
        elif d.kind == "randint":
            flat[d.key] = tune.randint(a[0], a[1])
        else:
            flat[d.key] = tune.qrandint(a[0], a[1], a[2])
    return _nest(flat)


def to_optuna(dims: list[Dimension]) -> dict[str, Any]:
    """Optuna distributions with flat ``a/b`` names (what Ray's OptunaSearch converter produces)."""
    from optuna import distributions as od

    out: dict[str, Any] = {}
    for d in dims:
        name, a = d.key.replace(".", "/"), d.args
        if d.is_enumerated:
            out[name] = od.CategoricalDistribution(list(a))
        elif d.kind == "uniform":
            out[name] = od.FloatDistribution(a[0], a[1])
        elif d.kind == "quniform":
            out[name] = od.FloatDistribution(a[0], a[1], step=a[2])
        elif d.kind == "loguniform":
            out[name] = od.FloatDistribution(a[0], a[1], log=True)
        elif d.kind == "qloguniform":
            # Optuna cannot combine log and step; Ray's converter drops the step the same way.
            out[name] = od.FloatDistribution(a[0], a[1], log=True)
        elif d.kind == "randint":
            out[name] = od.IntDistribution(a[0], a[1] - 1)
        else:
            out[name] = od.IntDistribution(a[0], a[1], step=a[2])
    return out


def count_trials(dims: list[Dimension], algorithm: str, num_samples: int) -> int:
    """How many trials a search will run (grid dimensions multiply for ``grid`` and ``random``)."""
    if algorithm == "optuna":
        return num_samples
    product = 1
    for d in dims:
        if d.kind == "grid" or (algorithm == "grid" and d.kind == "choice"):
            product *= len(d.args)
    return product * num_samples


def sample_configs(dims: list[Dimension], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` example configs (nested), drawn with NumPy for display by ``--dry-run``; starts nothing."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        flat: dict[str, Any] = {}
        for d in dims:
            a = d.args
            if d.is_enumerated:
                value = a[int(rng.integers(len(a)))]
            elif d.kind in ("uniform", "quniform"):
                value = float(rng.uniform(a[0], a[1]))
                if d.kind == "quniform":
                    value = round(value / a[2]) * a[2]
            elif d.kind in ("loguniform", "qloguniform"):
                value = float(math.exp(rng.uniform(math.log(a[0]), math.log(a[1]))))
                if d.kind == "qloguniform":
                    value = round(value / a[2]) * a[2]
            elif d.kind == "randint":
                value = int(rng.integers(a[0], a[1]))
            else:
                value = int(round(int(rng.integers(a[0], a[1] + 1)) / a[2]) * a[2])
            flat[d.key] = value
        out.append(_nest(flat))
    return out
