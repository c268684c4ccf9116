"""graph_text_retrieval: loss, retrieval metrics, synthetic data, graph batching, curriculum, learning, loaders."""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path

import pytest
import torch

from trainables.common.losses import info_nce
from trainables.graph_text_retrieval import GraphTextRetrieval, retrieval_metrics
from trainables.graph_text_retrieval.data import gather_graphs, hashed_ngrams
from trainables.graph_text_retrieval.synthetic import generate, motif_graphs
from trainables.protocol import DataError

TINY = GraphTextRetrieval.tiny_config
HAS_RDKIT = importlib.util.find_spec("rdkit") is not None
HAS_ST = importlib.util.find_spec("sentence_transformers") is not None


def build(data: dict | None = None, **config) -> GraphTextRetrieval:
    data_config = GraphTextRetrieval.DataConfig(**{**GraphTextRetrieval.tiny_data, **(data or {})})
    dataset = GraphTextRetrieval.load_data(data_config)
    return GraphTextRetrieval(GraphTextRetrieval.Config(**{**TINY, **config}), dataset, torch.device("cpu"))


def test_info_nce_matches_a_hand_computed_value():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    r = 1 / math.sqrt(2)
    # logits = cos / 0.5 = [[2, 2r], [0, 2r]]; cross-entropy of the diagonal, rows (a→b) then columns (b→a)
    a2b = 0.5 * (math.log(1 + math.exp(2 * r - 2)) + math.log(1 + math.exp(-2 * r)))
    b2a = 0.5 * (math.log(1 + math.exp(-2)) + math.log(2))
    assert float(info_nce(a, b, 0.5)) == pytest.approx(0.5 * (a2b + b2a), rel=1e-6)
    assert float(info_nce(a, b, torch.tensor(0.5), symmetric=False)) == pytest.approx(a2b, rel=1e-6)


def test_retrieval_metrics_on_a_hand_made_similarity_matrix():
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.8, 0.5, 0.2], [0.1, 0.7, 0.6]])
    m = retrieval_metrics(scores)
    # graph → text (rows): ranks 1, 2, 2; text → graph (columns): ranks 1, 2, 1
    assert m["g2t/mrr"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["t2g/mrr"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["g2t/r@1"] == pytest.approx(1 / 3) and m["t2g/r@1"] == pytest.approx(2 / 3)
    assert m["g2t/mean_rank"] == pytest.approx(5 / 3) and m["t2g/mean_rank"] == pytest.approx(4 / 3)
    assert m["mrr"] == pytest.approx(0.75) and m["r@1"] == pytest.approx(0.5)
    assert m["r@5"] == m["r@10"] == 1.0 and m["mean_rank"] == pytest.approx(1.5)


def test_synthetic_families_and_isomers():
    raw = generate(24, 2, core_motifs=2, variable_motifs=3, generator=torch.Generator().manual_seed(0))
    x, ptr = raw["x"], raw["node_ptr"]
    assert raw["family"].tolist() == [i % 2 for i in range(24)]
    # the first 6 members of family 0 (molecules 0, 2, ..., 10) are one isomer group: same atoms and words
    group = list(range(0, 12, 2))
    atoms = [sorted(x[ptr[i] : ptr[i + 1], 0].tolist()) for i in group]
    assert all(a == atoms[0] for a in atoms)
    words = [sorted(raw["texts"][i].split()[6:-1]) for i in group]  # without the family name and role
    assert all(w == words[0] for w in words)
    assert len({raw["texts"][i].split(" it has")[0] for i in group}) == 6  # but six different orders
    assert len({t.split(" it has")[0] for t in raw["texts"]}) == 24  # no two molecules alike
    ei, eptr = raw["edge_index"], raw["edge_ptr"]
    for i in (0, 5, 23):  # valid local endpoints, every bond in both directions
        e = ei[:, eptr[i] : eptr[i + 1]]
        assert 0 <= int(e.min()) and int(e.max()) < int(ptr[i + 1] - ptr[i])
        assert sorted(map(tuple, e.t().tolist())) == sorted(map(tuple, e.flip(0).t().tolist()))
    with pytest.raises(DataError, match="raise num_families"):
        generate(200, 1, 2, 1, torch.Generator().manual_seed(0))  # only 12 single-substituent molecules exist


def test_motif_graph_of_phenol():
    graph = motif_graphs(torch.tensor([[0, 15]]))  # benzene ring, then a hydroxy group on its exit atom 3
    assert graph["x"].tolist() == [[6, 1]] * 6 + [[8, 0]]
    edges = set(
        zip(graph["edge_index"][0].tolist(), graph["edge_index"][1].tolist(), graph["edge_attr"].tolist())
    )
    ring = {(i, (i + 1) % 6, 3) for i in range(6)}
    expected = ring | {(b, a, t) for a, b, t in ring} | {(3, 6, 0), (6, 3, 0)}
    assert edges == expected and graph["edge_attr"].numel() == 14
    assert graph["node_ptr"].tolist() == [0, 7] and graph["edge_ptr"].tolist() == [0, 14]


def test_synthetic_data_is_deterministic_and_neighbours_are_family_mates():
    cfg = GraphTextRetrieval.DataConfig(num_molecules=300, num_families=10, neighbors_k=5)
    a, b = GraphTextRetrieval.load_data(cfg), GraphTextRetrieval.load_data(cfg)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.edge_index, b.edge_index)
    assert torch.equal(a.neighbors, b.neighbors)
    train = a.splits["train"]
    fam = a.family[train]
    assert (fam[a.neighbors[:, 0]] == fam).float().mean() > 0.95
    assert sum(s.numel() for s in a.splits.values()) == 300


def test_gather_graphs_relabels_nodes_into_one_batch():
    data = build().data
    ids = torch.tensor([5, 0, 7])
    x, edge_index, edge_attr, batch = gather_graphs(data, ids)
    sizes = (data.node_ptr[ids + 1] - data.node_ptr[ids]).tolist()
    assert batch.tolist() == [0] * sizes[0] + [1] * sizes[1] + [2] * sizes[2]
    start = 0
    for j, i in enumerate(ids.tolist()):
        assert torch.equal(x[start : start + sizes[j]], data.x[data.node_ptr[i] : data.node_ptr[i + 1]])
        own = edge_index[:, batch[edge_index[0]] == j] - start
        assert torch.equal(own, data.edge_index[:, data.edge_ptr[i] : data.edge_ptr[i + 1]])
        start += sizes[j]
    assert edge_attr.numel() == edge_index.size(1)


def test_hashed_ngrams_pad_and_bigrams():
    tokens = torch.tensor([[3, 4, -1]])
    ids = hashed_ngrams(tokens, 100)
    assert ids.shape == (1, 5)
    assert ids[0, 2] == 100 and ids[0, 4] == 100  # padding and the incomplete bigram map to the pad bucket
    assert 0 <= int(ids[0, 3]) < 100


def test_curriculum_switch_is_reported_and_logged(caplog):
    model = build(curriculum_epoch=1, hard_ratio=0.5)
    with caplog.at_level(logging.INFO, logger="trainables.graph_text_retrieval.trainable"):
        first = model.train_epoch(0)
        second = model.train_epoch(1)
        third = model.train_epoch(2)
    assert (first["hard_active"], first["hard_ratio_effective"], first["hard_share"]) == (0.0, 0.0, 0.0)
    assert (second["hard_active"], second["hard_ratio_effective"]) == (1.0, 0.5)
    assert 0.0 < second["hard_share"] <= 0.5 and third["hard_active"] == 1.0
    switches = [r for r in caplog.records if "curriculum switch" in r.getMessage()]
    assert len(switches) == 1 and "epoch 2" in switches[0].getMessage()


def test_temperature_is_learnt_or_fixed():
    learnt = build(learn_temperature=True)
    fixed = build(learn_temperature=False)
    assert learnt.train_epoch(0)["temperature"] != pytest.approx(0.07, abs=1e-7)
    assert fixed.train_epoch(0)["temperature"] == pytest.approx(0.07, rel=1e-6)


def test_gps_layers_train():
    metrics = build(conv="gps").train_epoch(0)
    assert math.isfinite(metrics["loss"])


def test_bad_knobs_fail_with_clear_messages():
    with pytest.raises(ValueError, match="hardness_k=50 exceeds"):
        build(hardness_k=50)
    with pytest.raises(ValueError, match="sentence_model"):
        build(text_encoder="sentence_transformers")
    with pytest.raises(ValueError, match="must divide"):
        GraphTextRetrieval.Config(hidden_dim=30, heads=4)


@pytest.mark.skipif(HAS_ST, reason="sentence-transformers is installed here")
def test_sentence_model_without_the_package_is_a_data_error():
    with pytest.raises(DataError, match="sentence-transformers package"):
        GraphTextRetrieval.load_data(
            GraphTextRetrieval.DataConfig(**GraphTextRetrieval.tiny_data, sentence_model="all-MiniLM-L6-v2")
        )


def test_model_beats_random_retrieval():
    """300 molecules (45 in validation), 6 epochs (~3 s): random ranking has MRR = H_45 / 45 ≈ 0.098."""
    data = {"num_molecules": 300, "num_families": 10, "neighbors_k": 30}
    model = build(
        data,
        hidden_dim=32,
        proj_dim=32,
        batch_size=32,
        hard_ratio=0.3,
        hardness_k=20,
        lr=3e-3,
        num_buckets=4096,
    )
    for epoch in range(6):
        model.train_epoch(epoch)
    metrics = model.evaluate("val")
    n = model.data.splits["val"].numel()
    random_mrr = sum(1 / r for r in range(1, n + 1)) / n
    assert metrics["mrr"] > random_mrr + 0.2, (metrics["mrr"], random_mrr)  # measured: 0.42
    assert metrics["r@10"] > 10 / n + 0.2


CHEBI_ROWS = [
    (101, "c1ccccc1", "The molecule is benzene, an aromatic annulene."),
    (102, "CCO", "The molecule is ethanol, a primary alcohol."),
    (103, "CC(=O)O", "The molecule is acetic acid, a simple monocarboxylic acid."),
    (104, "not_a_smiles", "An unparseable row that the loader drops."),
    (105, "C#N", "The molecule is hydrogen cyanide."),
    (106, "c1ccncc1", "The molecule is pyridine, an azaarene."),
]


def write_tsv(path: Path, rows, header: str = "CID\tSMILES\tdescription") -> Path:
    path.write_text(header + "\n" + "".join(f"{c}\t{s}\t{d}\n" for c, s, d in rows), encoding="utf-8")
    return path


@pytest.mark.skipif(not HAS_RDKIT, reason="RDKit (the [chem] extra) is not installed; CI installs it")
def test_chebi20_loader_reads_split_files(tmp_path):
    write_tsv(tmp_path / "train.txt", CHEBI_ROWS[:4])
    write_tsv(tmp_path / "validation.txt", CHEBI_ROWS[4:5])
    write_tsv(tmp_path / "test.txt", CHEBI_ROWS[5:])
    cfg = GraphTextRetrieval.DataConfig(source="chebi20", path=str(tmp_path), neighbors_k=2)
    data = GraphTextRetrieval.load_data(cfg)
    assert data.num_molecules == 5  # the unparseable SMILES is dropped
    assert {k: v.tolist() for k, v in data.splits.items()} == {"train": [0, 1, 2], "val": [3], "test": [4]}
    benzene = data.x[data.node_ptr[0] : data.node_ptr[1]]
    assert benzene.tolist() == [[6, 1]] * 6
    assert (
        data.edge_attr[data.edge_ptr[0] : data.edge_ptr[1]].tolist() == [3] * 12
    )  # 6 aromatic bonds, both ways
    cyanide = data.edge_attr[data.edge_ptr[3] : data.edge_ptr[4]].tolist()
    assert cyanide == [2, 2]  # C#N: one triple bond
    assert data.texts[1].startswith("The molecule is ethanol") and "ethanol" in data.vocab
    model = GraphTextRetrieval(
        GraphTextRetrieval.Config(**{**TINY, "batch_size": 2, "hardness_k": 2}), data, torch.device("cpu")
    )
    assert math.isfinite(model.train_epoch(0)["loss"])
    assert model.evaluate("test")["mrr"] == 1.0  # one candidate


@pytest.mark.skipif(not HAS_RDKIT, reason="RDKit (the [chem] extra) is not installed; CI installs it")
def test_chebi20_loader_splits_one_file_and_rejects_all_bad_smiles(tmp_path):
    path = write_tsv(tmp_path / "all.tsv", CHEBI_ROWS * 3)
    cfg = GraphTextRetrieval.DataConfig(
        source="chebi20", path=str(path), neighbors_k=3, val_fraction=0.2, test_fraction=0.2
    )
    data = GraphTextRetrieval.load_data(cfg)
    assert data.num_molecules == 15 and [v.numel() for v in data.splits.values()] == [9, 3, 3]
    bad = write_tsv(tmp_path / "bad.tsv", [(1, "xx", "a"), (2, "yy", "b"), (3, "zz", "c")])
    with pytest.raises(DataError, match="0 usable rows"):
        GraphTextRetrieval.load_data(GraphTextRetrieval.DataConfig(source="chebi20", path=str(bad)))


@pytest.mark.skipif(HAS_RDKIT, reason="RDKit is installed here")
def test_chebi20_loader_without_rdkit_names_the_extra(tmp_path):
    path = write_tsv(tmp_path / "all.tsv", CHEBI_ROWS)
    with pytest.raises(DataError, match=r"ranktune\[chem\]"):
        GraphTextRetrieval.load_data(GraphTextRetrieval.DataConfig(source="chebi20", path=str(path)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("CID,SMILES,description\n1,CCO,ethanol\n", "not comma/semicolon-separated"),
        ("CID\tSMILES\ttext\n1\tCCO\tethanol\n", "column 'description' missing"),
        ("CID\tSMILES\tdescription\nabc\tCCO\tethanol\n", r"line 2, column 'CID': 'abc'"),
        ("CID\tSMILES\tdescription\n1\tCCO\tethanol\n2\tCC", "line 3 has 2 tab-separated fields"),
        ("", "empty file"),
    ],
)
def test_chebi20_loader_errors_name_file_line_and_value(tmp_path, content, message):
    path = tmp_path / "train.tsv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        GraphTextRetrieval.load_data(GraphTextRetrieval.DataConfig(source="chebi20", path=str(path)))
    assert str(path) in str(info.value)


def test_chebi20_needs_a_path():
    with pytest.raises(DataError, match="needs data.path"):
        GraphTextRetrieval.load_data(GraphTextRetrieval.DataConfig(source="chebi20"))


@pytest.mark.slow
def test_spec_smoke_run_end_to_end(tmp_path):
    from tune.run import main

    spec = Path(__file__).resolve().parents[2] / "search_spaces" / "gt_hard_negatives.yaml"
    assert main([str(spec), "--smoke", "--storage", str(tmp_path)]) == 0
    assert list(tmp_path.rglob("summary.csv"))
