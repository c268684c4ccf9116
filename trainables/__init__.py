"""What is trained: the models behind the trainable protocol, the generic runner and shared pieces.

``REGISTRY`` is a literal dict of import strings, so only the trainable a spec names is imported: a missing
optional extra cannot break the other specs, and ``--dry-run`` stays fast.
"""

from __future__ import annotations

import importlib

from trainables.protocol import DataConfig, DataError, MetricNames, Trainable, TrainableConfig

REGISTRY: dict[str, str] = {
    "hybrid_sasrec_gnn": "trainables.hybrid_sasrec_gnn:HybridSASRecGNN",
    "tgn_link": "trainables.tgn_link:TGNLink",
    "graph_text_retrieval": "trainables.graph_text_retrieval:GraphTextRetrieval",
    "hetero_twostage": "trainables.hetero_twostage:HeteroTwoStage",
    "two_tower": "trainables.two_tower:TwoTower",
}

__all__ = [
    "REGISTRY",
    "DataConfig",
    "DataError",
    "MetricNames",
    "Trainable",
    "TrainableConfig",
    "resolve",
]


def resolve(name: str) -> type[Trainable]:
    """Return the trainable class for a registry name or a ``package.module:Class`` import string.

    Raises ``LookupError`` with the allowed names when the name is unknown or cannot be imported.
    """
    target = REGISTRY.get(name, name)
    if ":" not in target:
        raise LookupError(
            f"unknown trainable {name!r}; allowed: {sorted(REGISTRY)} or 'package.module:Class'"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import trainable {name!r} ({target}): {exc}") from exc
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Trainable)):
        raise LookupError(f"{target!r} is not a ranktune Trainable subclass")
    return cls
