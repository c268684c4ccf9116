"""Speed of tgn_link's hot kernels against loop-based references, in the same process.

* the seed's full-ranking evaluation: 199 sources × 858 destinations = 170,742 pairs, scored and turned into
  P/R/lift@K, ranks, MRR, AP and AUROC — vectorised (:meth:`LinkPredictor.score_all` +
  :func:`full_ranking_metrics`) vs a loop over sources, and vs a loop over pairs (timed on a slice, extrapolated);
* the hard-negative sampler (top-k + softmax draw, static/temporal cosine and graph 2-hop scores) for one training
  batch vs a per-row loop;
* one training epoch and one evaluation of the trainable at the seed's sizes.

Run ``python -m benchmarks.tgn_kernels`` (``--threads N``, ``--repeat R``). Prints a Markdown table of times and
ratios; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from trainables.common.metrics import positive_ranks
from trainables.common.samplers.hard import co_links, cosine_scores, sample_topk_softmax, two_hop_scores
from trainables.tgn_link import TGNLink, full_ranking_metrics

SEED_SRC, SEED_DST = 199, 858  # the seed's companies × investors


def best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def seed_sized_model(embedding_dim: int) -> TGNLink:
    data = TGNLink.load_data(TGNLink.DataConfig(num_src=SEED_SRC, num_dst=SEED_DST, num_events=3000))
    config = TGNLink.Config(embedding_dim=embedding_dim, memory_dim=embedding_dim, time_dim=embedding_dim)
    return TGNLink(config, data, torch.device("cpu"))


def bench_full_ranking(model: TGNLink, repeat: int) -> list[tuple[str, float, float]]:
    """Rows ``(name, seconds, slowdown vs vectorised)`` for the 170,742-pair evaluation."""
    predictor = model.net.predictor
    g = torch.Generator().manual_seed(0)
    d = model.config.embedding_dim
    z_src, z_dst = torch.randn(SEED_SRC, d, generator=g), torch.randn(SEED_DST, d, generator=g)
    labels = torch.zeros(SEED_SRC * SEED_DST, dtype=torch.bool)
    labels[torch.randperm(labels.numel(), generator=g)[:52]] = True  # 52 true links as in the seed
    ks = [100, 1000]

    def vectorised() -> dict[str, float]:
        return full_ranking_metrics(predictor.score_all(z_src, z_dst).flatten(), labels, ks)

    @torch.no_grad()
    def row_loop() -> torch.Tensor:
        rows = [predictor(z_src[i].expand(SEED_DST, -1), z_dst) for i in range(SEED_SRC)]
        return torch.stack(rows)

    n_slice = 2000

    @torch.no_grad()
    def pair_loop_slice() -> None:
        for p in range(n_slice):
            predictor(z_src[p // SEED_DST].unsqueeze(0), z_dst[p % SEED_DST].unsqueeze(0))

    def loop_metrics(scores: torch.Tensor) -> tuple[list[int], list[int]]:
        neg = scores[~labels]
        ranks = [int((neg >= s).sum()) + 1 for s in scores[labels].tolist()]  # one true link at a time
        order = sorted(range(scores.numel()), key=lambda i: -scores[i].item())
        hits = [sum(labels[i].item() for i in order[:k]) for k in ks]
        return ranks, hits

    reference = row_loop().flatten()
    assert torch.allclose(predictor.score_all(z_src, z_dst).flatten(), reference, atol=1e-4)
    ranks, _ = loop_metrics(reference)
    assert sorted(ranks) == sorted(positive_ranks(reference, labels).tolist())
    t_vec = best_time(vectorised, repeat)
    t_rows = best_time(row_loop, repeat) + best_time(
        lambda: full_ranking_metrics(reference, labels, ks), repeat
    )
    t_pairs = best_time(pair_loop_slice, 1) * (SEED_SRC * SEED_DST / n_slice)
    t_pairs += best_time(lambda: loop_metrics(reference), 1)
    return [
        ("full ranking 170,742 pairs: vectorised (score_all + metrics)", t_vec, 1.0),
        ("  loop over 199 sources + same metrics", t_rows, t_rows / t_vec),
        ("  loop over pairs (2,000 timed, extrapolated) + loop metrics", t_pairs, t_pairs / t_vec),
    ]


def bench_sampler(repeat: int, batch: int = 200, k: int = 20) -> list[tuple[str, float, float]]:
    """Rows for one batch of hard negatives among the seed's 858 destinations."""
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(SEED_DST, 200, generator=g)  # static features or memory, 200-d as in the seed
    positives = torch.randint(SEED_DST, (batch,), generator=g)
    adjacency = (torch.rand(SEED_SRC, SEED_DST, generator=g) < 0.01).float()
    rows = torch.randint(SEED_SRC, (batch,), generator=g)
    exclude = adjacency[rows] > 0

    def vectorised() -> torch.Tensor:
        scores = cosine_scores(feats[positives], feats)
        return sample_topk_softmax(scores, 1, k, 0.1, torch.Generator().manual_seed(2), exclude)[0]

    co = co_links(adjacency)

    def graph() -> torch.Tensor:
        scores, valid = two_hop_scores(adjacency, rows, co)
        return sample_topk_softmax(scores, 1, k, 1.0, torch.Generator().manual_seed(2), ~valid)[0]

    def row_loop() -> list[int]:
        gen = torch.Generator().manual_seed(2)
        out = []
        for i in range(batch):
            q = feats[positives[i]]
            sims = torch.stack(
                [torch.nn.functional.cosine_similarity(q, feats[j], dim=0) for j in range(SEED_DST)]
            )
            sims[exclude[i]] = float("-inf")
            top, idx = torch.topk(sims, k)
            p = torch.softmax(top / 0.1, dim=0)
            out.append(int(idx[torch.multinomial(p, 1, generator=gen)]))
        return out

    t_vec = best_time(vectorised, repeat)
    t_graph = best_time(graph, repeat)
    t_loop = best_time(row_loop, 1)
    return [
        (f"hard sampler, batch {batch} x {SEED_DST} candidates, cosine (static/temporal)", t_vec, 1.0),
        ("  graph 2-hop scores (cached co-links) + draw", t_graph, t_graph / t_vec),
        ("  loop over rows and candidates", t_loop, t_loop / t_vec),
    ]


def bench_trainable(repeat: int) -> list[tuple[str, float, float]]:
    """One epoch and one evaluation at the seed's sizes (200-d, as in its recommended command)."""
    model = seed_sized_model(200)
    t_epoch = best_time(lambda: model.train_epoch(0), repeat)
    t_eval = best_time(lambda: model.evaluate("val"), repeat)
    rows = [
        ("train_epoch, 2,100 events, 200-d, random negatives", t_epoch, 1.0),
        ("evaluate('val'): embed all nodes + 170,742-pair ranking", t_eval, t_eval / t_epoch),
    ]
    for source in ("static", "temporal", "graph"):
        hard = seed_sized_model(200)
        hard.config.hard_neg_ratio, hard.config.hard_neg_source = 0.5, source
        t = best_time(lambda m=hard: m.train_epoch(0), repeat)
        rows.append((f"train_epoch, hard_neg_ratio 0.5, source {source}", t, t / t_epoch))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is kept)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = seed_sized_model(200)
    rows = bench_full_ranking(model, args.repeat) + bench_sampler(args.repeat) + bench_trainable(args.repeat)
    print(f"tgn_link kernels (torch {torch.__version__}, {args.threads} thread(s), best of {args.repeat})\n")
    print("| kernel | seconds | ratio |")
    print("| --- | ---: | ---: |")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.4f} | {ratio:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
