"""How a search is run: the CLI, the spec, search-space conversion, orchestration and replication.

The only package that imports ``ray.tune``.
"""
