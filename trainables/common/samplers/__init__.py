"""Negative samplers, one module per family; every function takes an explicit ``torch.Generator``.

* :mod:`.uniform` — uniform or popularity-weighted negatives that exclude each row's positives.
"""
