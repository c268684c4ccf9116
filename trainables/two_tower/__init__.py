"""Two-tower next-target retrieval with mixed negative sampling and a temporal pretraining loss.

* :mod:`.config` — the typed knobs (:class:`TwoTowerConfig`) and data settings (:class:`TwoTowerData`);
* :mod:`.data` — the synthetic social-interaction generator, the CSV loader, the per-actor chronological split;
* :mod:`.model` — the query and item towers, the causal history encoder, the batched temporal loss;
* :mod:`.trainable` — :class:`TwoTower`, the trainable protocol around them.
"""

from trainables.two_tower.config import TwoTowerConfig, TwoTowerData
from trainables.two_tower.trainable import TwoTower

__all__ = ["TwoTower", "TwoTowerConfig", "TwoTowerData"]
