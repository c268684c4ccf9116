"""``hetero_twostage``: two-stage heterogeneous GNN for turnover and position preference (GNN v6 report).

* :mod:`.config` — the knobs (``Config``, ``DataConfig``);
* :mod:`.data` — the dataset type and the embedded synthetic generator; :mod:`.loader` — the CSV tables;
* :mod:`.model` — HeteroConv encoder (or graph-free MLP) and the two heads; :mod:`.gbdt` — the tree baseline;
* :mod:`.trainable` — :class:`HeteroTwoStage`, the protocol implementation.
"""

from trainables.hetero_twostage.trainable import HeteroTwoStage

__all__ = ["HeteroTwoStage"]
