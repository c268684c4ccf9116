"""SASRec fused with a user–item GNN by a fusion weight α (the seed's hybrid): the main job's trainable.

* :mod:`.config` — :class:`HybridConfig`, every knob with its range;
* :mod:`.data` — :class:`HybridData`, the synthetic generator and the MovieLens loaders;
* :mod:`.model` — SASRec, the graph encoder (LightGCN / GAT) and the fusion variants;
* :mod:`.trainable` — :class:`HybridSASRecGNN`, training and leave-one-out evaluation.
"""

from trainables.hybrid_sasrec_gnn.config import HybridConfig
from trainables.hybrid_sasrec_gnn.data import HybridData, SequenceDataset
from trainables.hybrid_sasrec_gnn.trainable import HybridSASRecGNN

__all__ = ["HybridConfig", "HybridData", "HybridSASRecGNN", "SequenceDataset"]
