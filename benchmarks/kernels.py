"""One table of the trainables' hot paths against straightforward loop-based references, with the speed-up of each.

The seed documents computed these with Python loops (one user, row, prefix or pair at a time); ranktune batches
them in torch. Each row times the vectorised kernel and its loop reference in the same process, and says whether
they agree. The kernels and references come from the per-model scripts where one exists:

* hard-negative sampling (cosine top-k + softmax draw, one batch of 200 among 858 candidates) and the full-ranking
  evaluation at the seed's 170,742 pairs (199 × 858): ``benchmarks.tgn_kernels``;
* the temporal pretraining loss (one causal pass vs K passes over prefixes): ``benchmarks.temporal_loss``;
* the kNN precompute for hard batches (chunked cosine top-k vs one row at a time): ``benchmarks.knn_precompute``;
* the piecewise fusion weight α(length) of ``hybrid_sasrec_gnn`` (bucketize + interpolate vs a loop over users);
* the full-ranking evaluation of ``hybrid_sasrec_gnn`` on its default data (1,024 users per batch vs one user at a
  time through the same code, ``eval_batch_size = 1``).

Run ``python -m benchmarks.kernels`` (``--threads N``, ``--repeat R``, ``--quick``, ``--append``).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks import knn_precompute, temporal_loss, tgn_kernels
from benchmarks.common import Table, best_time, emit, machine


def piecewise_loop(lengths: torch.Tensor, knots: list[float], values: list[float]) -> torch.Tensor:
    """α per user, one user at a time: find the segment, interpolate, clamp (the reference)."""
    from trainables.hybrid_sasrec_gnn.model import ALPHA_MAX, ALPHA_MIN

    out = torch.empty(lengths.numel())
    for i, length in enumerate(lengths.tolist()):
        j = 1
        while j < len(knots) - 1 and length > knots[j]:
            j += 1
        t = min(max((length - knots[j - 1]) / (knots[j] - knots[j - 1]), 0.0), 1.0)
        out[i] = min(max((1 - t) * values[j - 1] + t * values[j], ALPHA_MIN), ALPHA_MAX)
    return out


def piecewise_row(users: int, repeat: int) -> list:
    from trainables.hybrid_sasrec_gnn.model import Fusion

    fusion = Fusion("piecewise", 0.5, 11, 53, 0.0)
    lengths = torch.randint(1, 121, (users,), generator=torch.Generator().manual_seed(0))  # [U]
    with torch.no_grad():
        fast = fusion(lengths)
        knots, values = fusion.knots.tolist(), fusion.knot_alpha.tolist()
    slow = piecewise_loop(lengths, knots, values)
    t_vec = best_time(lambda: fusion(lengths), repeat)
    t_loop = best_time(lambda: piecewise_loop(lengths, knots, values), 1)
    same = bool(torch.allclose(fast.detach(), slow, atol=1e-6))
    return ["hybrid piecewise fusion α(length)", f"{users:,} users", t_vec, t_loop, t_loop / t_vec, same]


def hybrid_eval_row(repeat: int, quick: bool) -> list:
    from trainables.hybrid_sasrec_gnn import HybridConfig, HybridData, HybridSASRecGNN

    data = HybridSASRecGNN.load_data(HybridData(**(HybridSASRecGNN.tiny_data if quick else {})))
    model = HybridSASRecGNN(HybridConfig(), data, torch.device("cpu"))
    model.train_epoch(0)
    batched = model.evaluate("val")
    t_vec = best_time(lambda: model.evaluate("val"), repeat)
    model.config.eval_batch_size = 1
    looped = model.evaluate("val")
    t_loop = best_time(lambda: model.evaluate("val"), 1)
    same = all(
        abs(batched[k] - looped[k]) < 1e-6 for k in batched if batched[k] == batched[k] and "alpha" not in k
    )
    size = f"{data.num_users:,} users × {data.num_items:,} items"
    return ["hybrid full-ranking evaluation (val)", size, t_vec, t_loop, t_loop / t_vec, same]


def bench(argv: list[str] | None = None) -> list[Table]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats of the fast kernels (best kept)")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (tests); the seed's sizes otherwise"
    )
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    machine_line = machine()
    table = Table(
        f"hot paths vs loop-based references ({args.threads} thread(s), best of {args.repeat})",
        ["kernel", "size", "vectorised s", "loop reference s", "speed-up", "same result"],
    )

    model = tgn_kernels.seed_sized_model(200)
    sampler = tgn_kernels.bench_sampler(args.repeat, batch=20 if args.quick else 200)
    table.add(
        "hard-negative sampling (cosine top-k + softmax draw)",
        f"batch {20 if args.quick else 200} × {tgn_kernels.SEED_DST} candidates",
        sampler[0][1],
        sampler[-1][1],
        sampler[-1][1] / sampler[0][1],
        "n/a (random draw)",
    )
    ranking = tgn_kernels.bench_full_ranking(model, args.repeat)  # asserts equal scores and ranks
    table.add(
        "tgn_link full-ranking evaluation (scores + metrics)",
        f"{tgn_kernels.SEED_SRC * tgn_kernels.SEED_DST:,} pairs",
        ranking[0][1],
        ranking[1][1],
        ranking[1][1] / ranking[0][1],
        True,
    )
    table.add(
        "  same, loop over pairs (extrapolated from 2,000)",
        f"{tgn_kernels.SEED_SRC * tgn_kernels.SEED_DST:,} pairs",
        ranking[0][1],
        ranking[2][1],
        ranking[2][1] / ranking[0][1],
        "n/a (timing only)",
    )
    table.add(*piecewise_row(1500 if args.quick else 100_000, args.repeat))
    case = (64, 16, 4, 32, 1) if args.quick else (256, 32, 16, 32, 2)
    temporal = temporal_loss.bench_case(*case, repeat=args.repeat)
    table.add(
        "two_tower temporal pretraining loss, forward + backward",
        "B={}, N={}, K={}, d={}, layers={}".format(*case),
        temporal["batched_ms"] / 1e3,
        temporal["loop_ms"] / 1e3,
        temporal["speedup"],
        temporal["diff"] < 1e-4,
    )
    n, dim, k = (500, 64, 20) if args.quick else (4000, 256, 100)
    x = torch.randn(n, dim, generator=torch.Generator().manual_seed(0))
    values, fast = knn_precompute.cosine_topk(x, k, chunk_size=1024)
    t_fast = best_time(lambda: knn_precompute.cosine_topk(x, k, chunk_size=1024), args.repeat)
    t_slow = best_time(lambda: knn_precompute.naive_topk(x, k), 1)
    # rows without a near-tie among their k + 1 best (the k-th vs the (k + 1)-th included) must agree exactly
    boundary = knn_precompute.cosine_topk(x, k + 1, chunk_size=1024)[0]  # [N, k + 1]
    clean = (boundary[:, :-1] - boundary[:, 1:]).min(dim=1).values > 1e-6
    same = bool(torch.equal(knn_precompute.naive_topk(x, k)[clean], fast[clean]))
    table.add(
        "kNN precompute for hard batches (cosine top-k)",
        f"N={n}, d={dim}, k={k}",
        t_fast,
        t_slow,
        t_slow / t_fast,
        same,
    )
    table.add(*hybrid_eval_row(args.repeat, args.quick))
    table.notes = [
        "loop references: per-row Python loops of the kind the seed documents show (see each script's docstring); "
        "'same result' compares scores/ranks/neighbours/metrics (loss difference < 1e-4 for the temporal loss)",
    ]
    emit([table], "kernels", args.append, machine_line)
    return [table]


def main(argv: list[str] | None = None) -> int:
    bench(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
