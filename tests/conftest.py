"""Session-wide fixtures: one local Ray instance for every Ray test, and a small torch thread count."""

from __future__ import annotations


import pytest
import torch

# one thread: tests use tiny models, where thread start-up costs more than it saves on a shared CPU
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance shared by the whole test session (starting Ray costs seconds).

    ``tune.run.main`` joins it instead of starting its own, and leaves it running.
    """
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            num_gpus=1,  # a logical GPU: trials that request one must still run (on CPU) on this CPU-only node
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    yield ray
    ray.shutdown()
