"""Time one training epoch and one full-ranking evaluation of ``hybrid_sasrec_gnn`` on its default synthetic data.

The issue's speed budget is "an epoch of the default synthetic data in seconds on 2 CPU cores" with batched full
ranking (no loop per user); the default search of ``search_spaces/hybrid_alpha.yaml`` must fit in 30 minutes. This
script builds the default dataset once and, for a few variants (the default hybrid first, as the reference),
times an epoch (``train_epoch``) and an evaluation (``evaluate("val")``: every user against every item), and
prints the wall times, the process CPU time of an epoch (what it costs on a quiet machine) and their ratios
to the reference. The single-model baselines (α = 1, α = 0) skip the part they
do not use, so they should be faster.

Run ``python -m benchmarks.hybrid_epoch`` (``--threads N``, ``--repeat R`` epochs per variant, ``--device cuda``,
``--append`` to add the table to ``benchmarks/RESULTS.md``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from trainables.hybrid_sasrec_gnn import HybridConfig, HybridData, HybridSASRecGNN

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("hybrid α=0.5 (reference)", {}),
    ("SASRec only (α=1)", {"alpha": 1.0}),
    ("GNN only (α=0)", {"alpha": 0.0}),
    ("hybrid, 4 negatives", {"num_negatives": 4}),
    ("learnable α", {"fusion": "learnable"}),
    ("piecewise α, popularity negatives", {"fusion": "piecewise", "neg_sampler": "popularity"}),
    ("GAT encoder", {"gnn": "gat"}),
    ("two-stage (frozen GNN)", {"gnn_pretrain_epochs": 1}),
]


def time_variant(
    data: Any, overrides: dict[str, Any], repeat: int, device: torch.device
) -> tuple[float, float, float]:
    """Median wall time of an epoch and of an evaluation, and median process CPU time of an epoch (seconds).

    The CPU time (all threads of this process) is what the variant costs on a quiet machine; on a shared, loaded
    one the wall times mostly measure the other processes.
    """
    model = HybridSASRecGNN(HybridConfig(**overrides), data, device)
    start_epoch = overrides.get("gnn_pretrain_epochs", 0)
    for epoch in range(start_epoch):
        model.train_epoch(epoch)
    model.train_epoch(start_epoch)  # warm-up (allocator, lazy init)
    epochs, evals, cpus = [], [], []
    for epoch in range(start_epoch + 1, start_epoch + 1 + repeat):
        start, cpu = time.perf_counter(), time.process_time()
        model.train_epoch(epoch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        epochs.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
        start = time.perf_counter()
        model.evaluate("val")
        evals.append(time.perf_counter() - start)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    return median(epochs), median(evals), median(cpus)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the budget is 2 cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed epochs per variant (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    start = time.perf_counter()
    data_config = HybridData()
    data = HybridSASRecGNN.load_data(data_config)
    build_s = time.perf_counter() - start
    lines = [
        f"## hybrid_sasrec_gnn: epoch and evaluation times ({device.type}, {args.threads} threads)",
        "",
        f"default data: {data.num_users} users, {data.num_items} items, {data.items.numel()} interactions "
        f"(generated in {build_s:.2f} s); median of {args.repeat} epochs",
        "",
        "| variant | epoch s | eval s | epoch CPU s | epoch × ref | eval × ref | epoch CPU × ref |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(lines), flush=True)
    reference: tuple[float, float, float] | None = None
    for name, overrides in VARIANTS:
        times = time_variant(data, overrides, args.repeat, device)
        reference = reference or times
        ratios = " | ".join(f"{t / r:.2f}" for t, r in zip(times, reference))
        row = f"| {name} | {times[0]:.3f} | {times[1]:.3f} | {times[2]:.3f} | {ratios} |"
        lines.append(row)
        print(row, flush=True)
    if args.append:
        with (Path(__file__).parent / "RESULTS.md").open("a") as handle:
            handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
