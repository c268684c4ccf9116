"""Chunked cosine kNN (``cosine_topk``) against a naive per-row loop, and the hard batch sampler's epoch time.

The seed system precomputes every item's nearest descriptions once ("1-5 minutes depending on the dataset") and
then samples batches "in under 0.1 s per epoch". ``cosine_topk`` scores ``chunk_size`` rows at a time, so memory
stays ``chunk_size × N`` floats instead of a dense ``N × N`` matrix; the naive reference scores one row at a time
in a Python loop (what a straightforward port does). Both give the same neighbours (checked here on every row
whose similarities have no near-tie). The second table times one epoch of ``hard_batches`` against a plain
``randperm`` (random batches) at several ``hard_ratio``.

Run ``python -m benchmarks.knn_precompute`` (``--sizes 2000 10000``, ``--dim 256``, ``--k 100``,
``--threads N``, ``--append`` to add the tables to ``benchmarks/RESULTS.md``). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from trainables.common.samplers.batches import cosine_topk, hard_batches


def naive_topk(embeddings: torch.Tensor, k: int) -> torch.Tensor:
    """One row at a time: ``[N, k]`` neighbour indices (self excluded), the reference."""
    unit = F.normalize(embeddings, dim=-1)
    out = torch.empty(unit.size(0), k, dtype=torch.long)
    for i in range(unit.size(0)):
        sims = unit @ unit[i]  # [N]
        sims[i] = -float("inf")
        out[i] = torch.topk(sims, k).indices
    return out


def clock(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000], help="numbers of items N")
    parser.add_argument("--dim", type=int, default=256, help="embedding width (BERT-base: 768)")
    parser.add_argument("--k", type=int, default=100, help="neighbours per item (the seed's hardness_k)")
    parser.add_argument("--chunk", type=int, default=1024, help="rows per chunk of cosine_topk")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of the sampler table")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the budget is 2 cores)")
    parser.add_argument("--append", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)

    lines = [
        f"## cosine kNN precompute and hard batch sampling (cpu, {args.threads} threads)",
        "",
        f"d = {args.dim}, k = {args.k}, chunk = {args.chunk} rows; naive = one row per Python iteration",
        "",
        "| N | naive s | chunked s | speed-up | chunk MiB | dense N×N MiB | same neighbours |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(lines), flush=True)
    for n in args.sizes:
        x = torch.randn(n, args.dim, generator=g)
        naive_s, ref = clock(lambda x=x: naive_topk(x, args.k))
        chunk_s, (values, idx) = clock(lambda x=x: cosine_topk(x, args.k, chunk_size=args.chunk), repeat=2)
        gaps = (
            (values[:, :-1] - values[:, 1:]).min(dim=1).values
        )  # rows without a near-tie must agree exactly
        clean = gaps > 1e-6
        same = bool(torch.equal(ref[clean], idx[clean]))
        chunk_mib = min(args.chunk, n) * n * 4 / 2**20
        row = (
            f"| {n} | {naive_s:.3f} | {chunk_s:.3f} | {naive_s / chunk_s:.1f} | {chunk_mib:.1f} | "
            f"{n * n * 4 / 2**20:.1f} | {same} ({int(clean.sum())}/{n} rows) |"
        )
        lines.append(row)
        print(row, flush=True)

    n = max(args.sizes)
    neighbors = cosine_topk(torch.randn(n, args.dim, generator=g), args.k, chunk_size=args.chunk)[1]
    rand_s, _ = clock(lambda: torch.randperm(n, generator=g).split(args.batch_size), repeat=5)
    table = [
        "",
        f"one epoch of batches, N = {n}, B = {args.batch_size}, hardness_k = {args.k} (randperm = random batches)",
        "",
        "| sampler | epoch s | × randperm | realised hard share |",
        "| --- | ---: | ---: | ---: |",
        f"| randperm | {rand_s:.5f} | 1.0 | 0.000 |",
    ]
    for ratio in (0.0, 0.3, 0.5, 0.7):
        s, plan = clock(lambda r=ratio: hard_batches(n, args.batch_size, neighbors, r, args.k, g), repeat=3)
        table.append(f"| hard_batches ratio {ratio} | {s:.5f} | {s / rand_s:.1f} | {plan.hard_share:.3f} |")
    print("\n".join(table), flush=True)
    lines += table
    if args.append:
        with (Path(__file__).parent / "RESULTS.md").open("a") as handle:
            handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
