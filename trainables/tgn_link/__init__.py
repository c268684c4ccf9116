"""``tgn_link``: temporal link prediction with a TGN, focal loss and hard negative mining (see :mod:`.trainable`)."""

from trainables.tgn_link.trainable import TGNLink, TGNLinkConfig, TGNLinkDataConfig, full_ranking_metrics

__all__ = ["TGNLink", "TGNLinkConfig", "TGNLinkDataConfig", "full_ranking_metrics"]
