"""The one Ray function trainable that runs every ranktune model.

It owns everything common to the models: seeding from ``config.seed``, choosing the device, restoring from
``ray.tune.get_checkpoint()``, the epoch loop, NaN/inf guards, ``ray.tune.report`` every epoch, checkpoints every
N epochs, and the test metrics at the best validation epoch. Models never call Ray themselves.

Reported keys each epoch: ``train/*``, ``val/*``, ``test/*`` (the test metrics *of the best validation epoch so far*;
they are never used for selection), ``best/<metric>`` (the best validation value so far), ``best_epoch`` and
``epoch`` (1-based, equal to Ray's ``training_iteration`` on an uninterrupted run) and ``restored_from_epoch`` (the
epoch of the checkpoint this attempt started from; 0 for a fresh start). An attempt restored from a checkpoint first
reports that checkpoint's epoch again (see :func:`run_trial`), so a progress file may hold an epoch twice.
"""

from __future__ import annotations

import errno
import math
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainables import resolve
from trainables.protocol import Trainable

CHECKPOINT_FILE = "state.pt"
REPLICA_KEY = "_replica"
TIMEOUT_MARKER = "TIMED_OUT"
# A trial that diverged or does not report its metric would do the same again in every retry: the first attempt
# leaves this marker (holding the error line) in the trial folder and a retry fails at once with the same error.
FINAL_MARKER = "FAILED_FINAL"


class TrialDivergedError(RuntimeError):
    """A loss or metric became NaN or infinite; the trial stops instead of handing NaN to Ray."""


class TrialTimeoutError(RuntimeError):
    """The trial exceeded the spec's ``failure.time_limit_s`` in an earlier attempt (see tune.watchdog)."""


class MissingMetricError(RuntimeError):
    """The trainable did not report the metric the search optimises."""


class StorageFullError(RuntimeError):
    """The results storage has no space left for a checkpoint; the trial stops instead of hanging or looping."""


_FINAL_ERRORS: dict[str, type[RuntimeError]] = {
    "TrialDivergedError": TrialDivergedError,
    "MissingMetricError": MissingMetricError,
}


def _raise_if_final(trial_dir: Path) -> None:
    """Fail a retry at once when an earlier attempt of this trial ended in a deterministic error."""
    marker = trial_dir / FINAL_MARKER
    if not marker.exists():
        return
    name, _, message = marker.read_text().strip().partition(": ")
    raise _FINAL_ERRORS.get(name, RuntimeError)(f"{message} (not retried: the first attempt ended so)")


def _mark_final(trial_dir: Path, exc: Exception) -> None:
    try:
        (trial_dir / FINAL_MARKER).write_text(f"{type(exc).__name__}: {exc}\n")
    except OSError:
        pass


def _is_disk_full(exc: BaseException) -> bool:
    """True for ENOSPC anywhere in the exception chain (pyarrow and shutil wrap the OSError differently)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass(frozen=True)
class RunnerSettings:
    """What the runner needs besides the trainable's config (fixed for the whole experiment)."""

    trainable: str
    metric: str  # e.g. "val/hr@10"
    mode: str  # "max" or "min"
    checkpoint_every: int = 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Global RNG states in a ``weights_only``-loadable form."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def pick_device() -> torch.device:
    """CUDA when this trial holds a GPU *and* CUDA exists; otherwise CPU (a logical GPU on a CPU-only node)."""
    import ray

    try:
        gpu_ids = ray.get_gpu_ids()
    except Exception:  # not inside a Ray worker
        gpu_ids = []
    if gpu_ids and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def trial_placement(device: torch.device) -> dict[str, str]:
    """Where this trial runs, reported with every result: node IP, node id, the GPU ids Ray gave it, the device."""
    import ray

    try:
        context = ray.get_runtime_context()
        node_id = context.get_node_id()
        gpu_ids = ray.get_gpu_ids()
        node_ip = ray.util.get_node_ip_address()
    except Exception:  # not inside a Ray worker (direct use in tests)
        node_id, gpu_ids, node_ip = "", [], ""
    return {
        "node_ip": node_ip,
        "node_id": node_id,
        "gpu_ids": ",".join(str(g) for g in gpu_ids),
        "device": str(device),
    }


def _check_finite(metrics: dict[str, float], where: str, epoch: int) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        raise TrialDivergedError(
            f"diverged at epoch {epoch + 1}: {where} metrics not finite: {bad}; "
            "lower the learning rate or check the loss settings"
        )


def _better(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value > best if mode == "max" else value < best)


def load_checkpoint_state(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a runner checkpoint safely: ``weights_only=True`` always, so a planted pickle cannot run code."""
    return torch.load(Path(directory) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)


def restore_newest_valid(checkpoint: Any) -> dict[str, Any] | None:
    """The state of the newest *valid* checkpoint of a trial, or ``None`` when none is valid.

    Ray hands back the newest checkpoint; if it was deleted, truncated or replaced by a pickle that would run code
    (refused by ``weights_only=True``), the older checkpoints beside it are tried, newest first. Every rejected
    checkpoint and a restart from epoch 0 are said in one line each.
    """
    candidates: list[Path] = []
    local = Path(checkpoint.path)
    if local.parent.is_dir():
        candidates = sorted(local.parent.glob("checkpoint_*"), reverse=True)
    if local not in candidates:
        candidates.insert(0, local)
    for candidate in candidates:
        try:
            if candidate == local and not local.is_dir():
                with checkpoint.as_directory() as directory:
                    return load_checkpoint_state(directory)
            return load_checkpoint_state(candidate)
        except Exception as exc:  # truncated, missing, or an unsafe pickle: never executed
            print(
                f"ranktune: checkpoint {candidate} is not usable ({type(exc).__name__}); trying an older one"
            )
    print("ranktune: no valid checkpoint left; the trial starts again from epoch 0")
    return None


def run_trial(config: dict[str, Any], data: Any = None, settings: RunnerSettings | None = None) -> None:
    """The Ray Tune function trainable: ``tune.with_parameters(run_trial, data=..., settings=...)``."""
    from ray import tune

    assert settings is not None, "run_trial needs RunnerSettings"
    trial_dir = Path(tune.get_context().get_trial_dir() or tempfile.mkdtemp(prefix="ranktune-trial-"))
    marker = trial_dir / TIMEOUT_MARKER
    if marker.exists():
        raise TrialTimeoutError(marker.read_text().strip())
    _raise_if_final(trial_dir)
    cls = resolve(settings.trainable)
    # replication trials carry their group label beside the config (see tune.replicate)
    cfg = cls.Config(**(config[REPLICA_KEY]["config"] if REPLICA_KEY in config else config))
    split, key = settings.metric.split("/", 1)
    device = pick_device()
    placement = trial_placement(device)
    seed_everything(cfg.seed)
    model: Trainable = cls(cfg, data, device)

    start_epoch, best, best_epoch, best_test = 0, None, -1, {}
    checkpoint = tune.get_checkpoint()
    state = restore_newest_valid(checkpoint) if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        restore_rng_state(state["rng"])
        start_epoch = int(state["epoch"]) + 1
        best, best_epoch, best_test = state["best"], int(state["best_epoch"]), dict(state["best_test"])
    restored_from = start_epoch  # epochs the restored checkpoint had done; 0 for a fresh start

    try:
        if state is not None and "result" in state:
            # A checkpoint is saved before its result reaches the driver, so an interrupted driver may never have
            # shown this epoch to the scheduler: report it again, so that ASHA judges the trial at the rung it
            # reached (a rung that already holds it ignores the repeat; docs/reliability.md, gap C', says what
            # Ray's ASHA still forgets). Readers drop the repeated progress row (tune.results.read_progress).
            tune.report({**state["result"], **placement, "restored_from_epoch": restored_from})
        for epoch in range(start_epoch, cfg.max_epochs):
            train = model.train_epoch(epoch)
            _check_finite(train, "train", epoch)
            val = model.evaluate("val")
            target = val if split == "val" else train
            if key not in target:
                raise MissingMetricError(
                    f"metric {settings.metric!r} was not reported; {split}/ keys are {sorted(target)}"
                )
            _check_finite({key: target[key]}, split, epoch)
            if _better(target[key], best, settings.mode):
                best, best_epoch = float(target[key]), epoch
                best_test = model.evaluate("test")
            result: dict[str, Any] = {
                **{f"train/{k}": float(v) for k, v in train.items()},
                **{f"val/{k}": float(v) for k, v in val.items() if math.isfinite(v)},
                **{f"test/{k}": float(v) for k, v in best_test.items() if math.isfinite(v)},
                f"best/{settings.metric}": best,
                "best_epoch": best_epoch + 1,
                "epoch": epoch + 1,
                "restored_from_epoch": restored_from,
                **placement,
            }
            last = epoch + 1 == cfg.max_epochs
            if (epoch + 1) % settings.checkpoint_every == 0 or last:
                with tempfile.TemporaryDirectory() as tmp:
                    torch.save(
                        {
                            "model": model.state_dict(),
                            "rng": rng_state(),
                            "epoch": epoch,
                            "best": best,
                            "best_epoch": best_epoch,
                            "best_test": best_test,
                            "result": {k: v for k, v in result.items() if k not in placement},
                        },
                        Path(tmp) / CHECKPOINT_FILE,
                    )
                    try:
                        tune.report(result, checkpoint=tune.Checkpoint.from_directory(tmp))
                    except Exception as exc:
                        if not _is_disk_full(exc):
                            raise
                        raise StorageFullError(
                            f"no space left on the results storage while saving the epoch-{epoch + 1} "
                            "checkpoint; free space, then resume with --resume --retry-errored"
                        ) from None
            else:
                tune.report(result)
    except (TrialDivergedError, MissingMetricError) as exc:
        _mark_final(trial_dir, exc)
        raise
    finally:
        model.close()
        if device.type == "cuda":
            del model
            torch.cuda.empty_cache()
