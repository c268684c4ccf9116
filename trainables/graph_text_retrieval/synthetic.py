"""Embedded synthetic molecule ↔ description data: families of near-duplicate molecules built from motifs.

What is planted, and why:

* Every molecule is a chain of motifs (rings, linkers, functional groups) joined by single bonds; node features
  are atomic numbers and aromatic flags, edge features bond types — the same featurisation as the ChEBI-20 loader.
* Molecules come in **families**: a family shares ``core_motifs`` ring/linker motifs and a family name; its members
  differ only in their last ``variable_motifs`` substituents. Members come in **isomer groups**: one set of
  distinct substituents in every order along the chain (``variable_motifs!`` members), so isomers have the same
  atoms and the same description words, and differ only in which motifs are bonded to which (bigrams in the
  text, neighbourhoods in the graph). No two molecules are identical. These are the seed system's "isomers,
  chemical families".
* The description names the family, then every motif in chain order (core motifs as comma-separated phrases,
  substituents as one word each, so word bigrams carry their order), then a random "role" sentence that has no
  counterpart in the graph (noise the text encoder must learn to ignore, and that blurs the neighbour search).

So the coarse signal (which family, which substituents) is easy and is learnt from random batches, while the
fine signal (in which order) only pays off when isomers share a batch: that is what ``hard_ratio`` buys,
``hardness_k`` decides how close (same family and same role first) the hard negatives are, and
``curriculum_epoch`` decides when they start.
"""

from __future__ import annotations

import itertools

import torch

from trainables.graph_text_retrieval.data import concat_ranges, pad_rows
from trainables.protocol import DataError

# (phrase, atoms as atomic numbers, aromatic, bonds (i, j, type), entry atom, exit atom)
_MOTIFS: list[tuple[str, list[int], bool, list[tuple[int, int, int]], int, int]] = [
    ("benzene ring", [6] * 6, True, [(i, (i + 1) % 6, 3) for i in range(6)], 0, 3),
    ("pyridine ring", [7, 6, 6, 6, 6, 6], True, [(i, (i + 1) % 6, 3) for i in range(6)], 1, 4),
    ("furan ring", [8, 6, 6, 6, 6], True, [(i, (i + 1) % 5, 3) for i in range(5)], 1, 3),
    ("thiophene ring", [16, 6, 6, 6, 6], True, [(i, (i + 1) % 5, 3) for i in range(5)], 1, 3),
    ("cyclohexane ring", [6] * 6, False, [(i, (i + 1) % 6, 0) for i in range(6)], 0, 3),
    ("piperidine ring", [7, 6, 6, 6, 6, 6], False, [(i, (i + 1) % 6, 0) for i in range(6)], 1, 4),
    ("cyclopentane ring", [6] * 5, False, [(i, (i + 1) % 5, 0) for i in range(5)], 0, 2),
    ("ethyl linker", [6, 6], False, [(0, 1, 0)], 0, 1),
    ("propyl linker", [6, 6, 6], False, [(0, 1, 0), (1, 2, 0)], 0, 2),
    ("butyl linker", [6, 6, 6, 6], False, [(0, 1, 0), (1, 2, 0), (2, 3, 0)], 0, 3),
    ("ester linkage", [6, 8, 8], False, [(0, 1, 1), (0, 2, 0)], 0, 2),
    ("amide linkage", [6, 8, 7], False, [(0, 1, 1), (0, 2, 0)], 0, 2),
    ("ether linkage", [8], False, [], 0, 0),
    ("alkene double bond", [6, 6], False, [(0, 1, 1)], 0, 1),
    ("alkyne triple bond", [6, 6], False, [(0, 1, 2)], 0, 1),
    ("hydroxy", [8], False, [], 0, 0),
    ("amino", [7], False, [], 0, 0),
    ("chloro", [17], False, [], 0, 0),
    ("fluoro", [9], False, [], 0, 0),
    ("bromo", [35], False, [], 0, 0),
    ("methyl", [6], False, [], 0, 0),
    ("carboxy", [6, 8, 8], False, [(0, 1, 1), (0, 2, 0)], 0, 2),
    ("keto", [6, 8], False, [(0, 1, 1)], 0, 0),
    ("nitro", [7, 8, 8], False, [(0, 1, 1), (0, 2, 0)], 0, 0),
    ("sulfanyl", [16], False, [], 0, 0),
    ("methoxy", [8, 6], False, [(0, 1, 0)], 0, 1),
    ("cyano", [6, 7], False, [(0, 1, 2)], 0, 0),
]
NUM_CORE = 15  # motifs 0..14 build family cores; 15.. are the substituents that vary within a family
NUM_VARIABLE = len(_MOTIFS) - NUM_CORE
_PREFIX = "the molecule is a {family} derivative with".split()
_ROLE = "it has a role as a".split()
_ROLES = ["metabolite", "antioxidant", "solvent", "drug", "toxin", "pigment", "fragrance", "herbicide"]
_SYLLABLES = (
    ["ab", "cor", "dex", "fen", "gly", "hep", "lin", "mor"],
    ["ox", "ur", "al", "is"],
    ["ane", "ine"],
)


def family_names(n: int) -> list[str]:
    """``n`` distinct pronounceable family names (``abane``, ``aboxine`` ...; numbered past 64)."""
    a, b, c = _SYLLABLES
    base = [x + y + z for x in a for y in b for z in c]
    return [base[i % len(base)] + ("" if i < len(base) else str(i // len(base))) for i in range(n)]


def _templates() -> dict[str, torch.Tensor]:
    sizes = torch.tensor([len(m[1]) for m in _MOTIFS])
    atoms = torch.tensor([a for m in _MOTIFS for a in m[1]])
    aromatic = torch.tensor([int(m[2]) for m in _MOTIFS for _ in m[1]])
    bonds = torch.tensor([b for m in _MOTIFS for b in m[3]], dtype=torch.long).view(-1, 3)
    n_bonds = torch.tensor([len(m[3]) for m in _MOTIFS])
    return {
        "sizes": sizes,
        "atom_ptr": torch.cumsum(sizes, 0) - sizes,
        "atoms": atoms,
        "aromatic": aromatic,
        "bonds": bonds,
        "n_bonds": n_bonds,
        "bond_ptr": torch.cumsum(n_bonds, 0) - n_bonds,
        "entry": torch.tensor([m[4] for m in _MOTIFS]),
        "exit": torch.tensor([m[5] for m in _MOTIFS]),
    }


def motif_graphs(motifs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Assemble chains of motifs into flat graphs.

    Args:
        motifs: ``[N, S]`` motif ids, chained left to right (exit atom of slot ``j`` bonded to the entry atom of
            slot ``j + 1``).

    Returns:
        ``x [n, 2]``, ``edge_index [2, e]`` (local, both directions), ``edge_attr [e]``, ``node_ptr``,
        ``edge_ptr`` (``[N + 1]``), as in :class:`~trainables.graph_text_retrieval.data.GraphTextData`.
    """
    t = _templates()
    n, s = motifs.shape
    flat = motifs.reshape(-1)  # [N*S]
    sizes = t["sizes"][motifs]  # [N, S]
    rows = concat_ranges(t["atom_ptr"][flat], sizes.reshape(-1))
    x = torch.stack([t["atoms"][rows], t["aromatic"][rows]], dim=1)  # [n_nodes, 2]
    offset = torch.cumsum(sizes, 1) - sizes  # [N, S] first node of each slot within its molecule

    nb = t["n_bonds"][flat]  # [N*S]
    bond = t["bonds"][concat_ranges(t["bond_ptr"][flat], nb)]  # [e_int, 3]
    shift = torch.repeat_interleave(offset.reshape(-1), nb)
    inner_mol = torch.repeat_interleave(torch.arange(n).repeat_interleave(s), nb)
    link_src = (offset[:, :-1] + t["exit"][motifs[:, :-1]]).reshape(-1)  # [N*(S-1)]
    link_dst = (offset[:, 1:] + t["entry"][motifs[:, 1:]]).reshape(-1)
    link_mol = torch.arange(n).repeat_interleave(s - 1)

    src = torch.cat([bond[:, 0] + shift, link_src])
    dst = torch.cat([bond[:, 1] + shift, link_dst])
    kind = torch.cat([bond[:, 2], torch.zeros_like(link_src)])
    mol = torch.cat([inner_mol, link_mol])
    src, dst, kind, mol = torch.cat([src, dst]), torch.cat([dst, src]), kind.repeat(2), mol.repeat(2)
    order = torch.argsort(mol, stable=True)
    n_nodes = sizes.sum(1)
    n_edges = torch.bincount(mol, minlength=n)
    zero = torch.zeros(1, dtype=torch.long)
    return {
        "x": x,
        "edge_index": torch.stack([src[order], dst[order]]),
        "edge_attr": kind[order],
        "node_ptr": torch.cat([zero, torch.cumsum(n_nodes, 0)]),
        "edge_ptr": torch.cat([zero, torch.cumsum(n_edges, 0)]),
    }


def generate(
    num_molecules: int,
    num_families: int,
    core_motifs: int,
    variable_motifs: int,
    generator: torch.Generator,
) -> dict[str, object]:
    """Draw the synthetic molecules and their descriptions (see the module docstring for the planted signal).

    Returns:
        The graph tensors of :func:`motif_graphs` plus ``tokens [N, L]``, ``vocab``, ``texts`` and
        ``family [N]``.

    Raises:
        DataError: more molecules per family than distinct substituent arrangements.
    """
    orders = torch.tensor(list(itertools.permutations(range(variable_motifs))))  # [V!, V]
    sets = torch.tensor(list(itertools.combinations(range(NUM_VARIABLE), variable_motifs)))  # [C, V]
    per_family = -(-num_molecules // num_families)
    if per_family > sets.size(0) * orders.size(0):
        raise DataError(
            f"synthetic data: {per_family} molecules per family exceed the {sets.size(0) * orders.size(0)} distinct substituent "
            "arrangements; raise num_families or variable_motifs"
        )
    family = torch.arange(num_molecules) % num_families  # [N]
    member = torch.arange(num_molecules) // num_families  # [N] rank within the family
    cores = torch.randint(NUM_CORE, (num_families, core_motifs), generator=generator)  # [F, C]
    set_of = torch.argsort(torch.rand(num_families, sets.size(0), generator=generator), dim=1)  # [F, C]
    # members come in isomer groups: one substituent set, every order of it along the chain
    chosen = sets[set_of[family, member // orders.size(0)]]  # [N, V]
    variable = NUM_CORE + chosen.gather(1, orders[member % orders.size(0)])  # [N, V]
    motifs = torch.cat([cores[family], variable], dim=1)  # [N, S]
    role = torch.randint(len(_ROLES), (num_molecules,), generator=generator)  # [N]

    names = family_names(num_families)
    phrases = [m[0].split() for m in _MOTIFS]
    vocab = sorted(
        {w for p in phrases for w in p} | set(_PREFIX) | set(_ROLE) | set(_ROLES) | set(names) | {","}
    )
    vocab = [w for w in vocab if w != "{family}"]
    wid = {w: i for i, w in enumerate(vocab)}
    phrase_ids = pad_rows(
        [[wid[w] for w in p] + [wid[","]] * (m < NUM_CORE) for m, p in enumerate(phrases)]
    )  # [M, P]
    prefix = torch.tensor([wid.get(w, -2) for w in _PREFIX])  # -2 marks the family slot
    prefix = prefix.expand(num_molecules, -1).clone()  # [N, 7]
    family_word = torch.tensor([wid[w] for w in names])[family]  # [N]
    prefix[prefix == -2] = family_word
    body = phrase_ids[motifs].reshape(num_molecules, -1)  # [N, S*P]
    suffix = torch.cat(
        [
            torch.tensor([wid[w] for w in _ROLE]).expand(num_molecules, -1),
            torch.tensor([wid[w] for w in _ROLES])[role].unsqueeze(1),
        ],
        dim=1,
    )  # [N, 7]
    tokens = torch.cat([prefix, body, suffix], dim=1)
    tokens = tokens.gather(1, torch.argsort((tokens < 0).int(), dim=1, stable=True))  # padding to the right
    tokens = tokens[:, : int((tokens >= 0).sum(1).max())]
    texts = [" ".join(vocab[t] for t in row if t >= 0) for row in tokens.tolist()]
    return {**motif_graphs(motifs), "tokens": tokens, "vocab": vocab, "texts": texts, "family": family}
