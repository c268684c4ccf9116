"""Graph transformer ↔ text contrastive retrieval with semantics-aware hard-negative batches.

Modules: :mod:`.trainable` (configs and the trainable), :mod:`.model` (encoders), :mod:`.data` (dataset layout,
graph batching, text hashing, neighbours), :mod:`.synthetic` (motif-family generator), :mod:`.chebi` (ChEBI-20
loader, RDKit).
"""

from trainables.graph_text_retrieval.trainable import (
    GraphTextConfig,
    GraphTextDataConfig,
    GraphTextRetrieval,
    retrieval_metrics,
)

__all__ = ["GraphTextConfig", "GraphTextDataConfig", "GraphTextRetrieval", "retrieval_metrics"]
