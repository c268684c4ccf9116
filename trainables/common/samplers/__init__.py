"""Negative samplers, one module per family; every function takes an explicit ``torch.Generator``.

* :mod:`.uniform` — uniform or popularity-weighted negatives that exclude each row's positives.
* :mod:`.hard` — hard negatives: top-k by similarity (features, embeddings or graph 2-hop), softmax(sim / T)
  draw, mixed with random ones at a ratio, with a curriculum schedule.
* :mod:`.cache` — cached hard negatives: each row's top-scored non-positives, refreshed every few epochs.
* :mod:`.batches` — semantics-aware batches for in-batch contrastive losses (pivot + hard neighbours + random).
* :mod:`.mixed` — in-batch + random negatives with masking, log-Q correction and temperature.
"""
