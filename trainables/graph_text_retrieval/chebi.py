"""Loader for the ChEBI-20 TSV format (``CID<TAB>SMILES<TAB>description``), SMILES → graphs with RDKit.

ChEBI-20 (Edwards et al., Text2Mol, 2021) ships ``train.txt``, ``validation.txt`` and ``test.txt`` with a header
line ``CID SMILES description``. ``path`` is either that directory (its three splits are used as given) or one
such file (split at random with the data config's fractions). RDKit is the optional ``[chem]`` extra; nothing is
downloaded. Rows whose SMILES RDKit cannot parse are dropped (and counted in a log line); everything else that is
wrong with a file raises :class:`~trainables.protocol.DataError` naming the file, line, column and value.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import torch

from trainables.graph_text_retrieval.data import NUM_ATOM_TYPES, pad_rows, split_ids
from trainables.protocol import DataError

log = logging.getLogger(__name__)

COLUMNS = ("CID", "SMILES", "description")
SPLIT_FILES = {"train": "train.txt", "val": "validation.txt", "test": "test.txt"}
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def read_tsv(path: Path) -> list[tuple[int, str, str]]:
    """Rows ``(cid, smiles, description)`` of one ChEBI-20 file, checked for shape and types."""
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected a ChEBI-20 TSV with columns {', '.join(COLUMNS)})")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: empty file (expected a header line {chr(9).join(COLUMNS)!r} and rows)")
    header = [h.strip() for h in rows[0]]
    if len(header) == 1 and ("," in header[0] or ";" in header[0]):
        raise DataError(
            f"{path}: header {header[0]!r} is one column; ChEBI-20 files are tab-separated "
            f"({', '.join(COLUMNS)}), not comma/semicolon-separated"
        )
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: column {missing[0]!r} missing; found {header}, expected {list(COLUMNS)}")
    at = [header.index(c) for c in COLUMNS]
    out: list[tuple[int, str, str]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} tab-separated fields, expected {len(header)} "
                f"({', '.join(header)}): truncated file?"
            )
        cid, smiles, text = (row[i].strip() for i in at)
        if not cid.isdigit():
            raise DataError(f"{path}: line {line}, column 'CID': {cid!r} is not a non-negative integer id")
        out.append((int(cid), smiles, text))
    return out


def _rdkit():
    try:
        from rdkit import Chem, RDLogger
    except ImportError as exc:
        raise DataError(
            "the ChEBI-20 loader turns SMILES into graphs with RDKit, which is not installed: "
            "pip install 'ranktune[chem]'"
        ) from exc
    RDLogger.DisableLog("rdApp.*")
    return Chem


def smiles_graphs(smiles: list[str]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Graphs of the parseable SMILES (featurised like the synthetic data) and a ``[len(smiles)]`` bool mask of them."""
    chem = _rdkit()
    bond_type = {
        chem.BondType.SINGLE: 0,
        chem.BondType.DOUBLE: 1,
        chem.BondType.TRIPLE: 2,
        chem.BondType.AROMATIC: 3,
    }
    atoms: list[tuple[int, int]] = []
    src: list[int] = []
    dst: list[int] = []
    kinds: list[int] = []
    n_nodes: list[int] = []
    n_edges: list[int] = []
    ok = torch.zeros(len(smiles), dtype=torch.bool)
    for i, smi in enumerate(smiles):  # RDKit parses one molecule at a time
        mol = chem.MolFromSmiles(smi) if smi else None
        if mol is None or mol.GetNumAtoms() == 0:
            continue
        ok[i] = True
        atoms.extend(
            (min(a.GetAtomicNum(), NUM_ATOM_TYPES - 1), int(a.GetIsAromatic())) for a in mol.GetAtoms()
        )
        for b in mol.GetBonds():
            u, v, t = b.GetBeginAtomIdx(), b.GetEndAtomIdx(), bond_type.get(b.GetBondType(), 0)
            src += [u, v]
            dst += [v, u]
            kinds += [t, t]
        n_nodes.append(mol.GetNumAtoms())
        n_edges.append(2 * mol.GetNumBonds())
    zero = torch.zeros(1, dtype=torch.long)
    graphs = {
        "x": torch.tensor(atoms, dtype=torch.long).view(-1, 2),
        "edge_index": torch.tensor([src, dst], dtype=torch.long).view(2, -1),
        "edge_attr": torch.tensor(kinds, dtype=torch.long),
        "node_ptr": torch.cat([zero, torch.cumsum(torch.tensor(n_nodes, dtype=torch.long), 0)]),
        "edge_ptr": torch.cat([zero, torch.cumsum(torch.tensor(n_edges, dtype=torch.long), 0)]),
    }
    return graphs, ok


def tokenize(texts: list[str], max_words: int) -> tuple[torch.Tensor, list[str]]:
    """Lower-cased words and punctuation of each text (first ``max_words``) as ``[N, L]`` ids and the vocabulary."""
    words = [_WORD.findall(t.lower())[:max_words] for t in texts]
    vocab = sorted({w for ws in words for w in ws})
    wid = {w: i for i, w in enumerate(vocab)}
    return pad_rows([[wid[w] for w in ws] for ws in words]), vocab


def load_chebi20(
    path: str, max_words: int, fractions: tuple[float, float], generator: torch.Generator
) -> dict[str, object]:
    """Read ChEBI-20 from a directory of split files or one file; returns graph tensors, text and splits."""
    root = Path(path)
    if root.is_dir():
        parts = {split: read_tsv(root / name) for split, name in SPLIT_FILES.items()}
    else:
        parts = {"all": read_tsv(root)}
    rows = [r for part in parts.values() for r in part if r[2]]  # an empty description cannot be retrieved
    part_of = torch.tensor(
        [k for k, part in enumerate(parts.values()) for r in part if r[2]], dtype=torch.long
    )
    graphs, ok = smiles_graphs([r[1] for r in rows])
    if int((~ok).sum()):
        log.warning("%s: dropped %d of %d rows with unparseable SMILES", root, int((~ok).sum()), len(rows))
    keep = ok.nonzero().squeeze(1)
    if keep.numel() < 3:
        raise DataError(
            f"{root}: {keep.numel()} usable rows after dropping unparseable SMILES; need at least 3"
        )
    texts = [rows[i][2] for i in keep.tolist()]
    tokens, vocab = tokenize(texts, max_words)
    if "all" in parts:
        splits = split_ids(keep.numel(), fractions, generator)
    else:
        part_of = part_of[keep]
        splits = {split: (part_of == k).nonzero().squeeze(1) for k, split in enumerate(parts)}
        empty = [s for s, ids in splits.items() if ids.numel() == 0]
        if empty:
            raise DataError(f"{root / SPLIT_FILES[empty[0]]}: no usable rows after filtering")
    return {**graphs, "tokens": tokens, "vocab": vocab, "texts": texts, "splits": splits}
