"""Speed of two_tower's batched temporal pretraining loss against the K-pass loop it replaces, in one process.

The seed system first computed its temporal loss with one transformer pass per prefix (K passes over truncated
histories) and then batched it: a causal encoder makes the cumulative masked mean of one pass the encoding of
every prefix. This script times forward + backward of both (:meth:`TwoTowerNet.temporal_loss` vs
:meth:`TwoTowerNet.temporal_loss_reference`) on random left-padded histories, prints the loss difference (it
should be float noise) and the speed-up, and adds one training epoch of the trainable at its default sizes.

Run ``python -m benchmarks.temporal_loss`` (``--threads N``, ``--repeat R``, ``--append`` to add the table to
``benchmarks/RESULTS.md``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from trainables.two_tower import TwoTower, TwoTowerConfig
from trainables.two_tower.model import TwoTowerNet

NUM_USERS, NUM_ACTIONS = 2000, 4
CASES = [  # (batch, history_len, K, d_emb, layers)
    (128, 16, 4, 32, 1),
    (128, 16, 8, 32, 1),
    (256, 32, 16, 32, 2),
    (256, 64, 32, 64, 2),
]


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def random_batch(batch: int, length: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Actors ``[B]`` and left-padded histories ``[B, N]`` with lengths uniform in ``[1, N]``."""
    lengths = torch.randint(1, length + 1, (batch,), generator=g)
    mask = torch.arange(length).unsqueeze(0) >= (length - lengths).unsqueeze(1)
    actions = torch.randint(NUM_ACTIONS, (batch, length), generator=g)
    targets = torch.randint(NUM_USERS, (batch, length), generator=g)
    actor = torch.randint(NUM_USERS, (batch,), generator=g)
    return actor, actions, targets, mask


def bench_case(batch: int, length: int, k: int, d: int, layers: int, repeat: int) -> dict[str, float]:
    torch.manual_seed(0)
    config = TwoTowerConfig(d_emb=d, history_len=length, temporal_k=k, num_layers=layers)
    net = TwoTowerNet(NUM_USERS, NUM_ACTIONS, config)
    actor, actions, targets, mask = random_batch(batch, length, torch.Generator().manual_seed(0))

    def batched() -> torch.Tensor:
        prefixes = net.encode_prefixes(actions, targets, mask)
        loss = net.temporal_loss(actor, actions, targets, mask, prefixes, k, 0.1)
        loss.backward()
        return loss

    def loop() -> torch.Tensor:
        loss = net.temporal_loss_reference(actor, actions, targets, mask, k, 0.1)
        loss.backward()
        return loss

    diff = abs(batched().item() - loop().item())
    t_batched, t_loop = best_time(batched, repeat), best_time(loop, repeat)
    return {
        "batched_ms": 1e3 * t_batched,
        "loop_ms": 1e3 * t_loop,
        "speedup": t_loop / t_batched,
        "diff": diff,
    }


def bench_epoch(repeat: int) -> tuple[float, int]:
    """Seconds of one training epoch of the trainable at its default sizes, and its number of examples."""
    data = TwoTower.load_data(TwoTower.DataConfig())
    model = TwoTower(TwoTower.Config(), data, torch.device("cpu"))
    epoch = iter(range(10**6))
    return best_time(lambda: model.train_epoch(next(epoch)), repeat), int(data.train_idx.numel())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats; the best is kept")
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    lines = [
        f"### two_tower temporal loss: batched (1 pass) vs K-pass loop, forward + backward, {args.threads} thread(s)",
        "",
        "| batch | N | K | d_emb | layers | batched ms | loop ms | speed-up | abs loss diff |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in CASES:
        r = bench_case(*case, repeat=args.repeat)
        lines.append(
            "| {} | {} | {} | {} | {} | {:.1f} | {:.1f} | {:.1f}x | {:.1e} |".format(
                *case, r["batched_ms"], r["loop_ms"], r["speedup"], r["diff"]
            )
        )
    seconds, examples = bench_epoch(args.repeat)
    lines += ["", f"One training epoch at the default sizes ({examples} examples): {seconds:.2f} s", ""]
    text = "\n".join(lines)
    print(text)
    if args.append:
        with (Path(__file__).parent / "RESULTS.md").open("a") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
