"""Interaction data of the two-tower trainable: the synthetic social generator, the CSV loader, the split.

Events are kept flat, sorted by actor and then time, so an event's history is simply the ``N`` events before it
when they belong to the same actor: histories are gathered per batch with one vectorised index, never stored
padded. The split is chronological per actor (leave-last-out): each actor's last event is its test target, the
one before its validation target, and every earlier event a training example.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from trainables.protocol import DataError
from trainables.two_tower.config import TwoTowerData

COLUMNS = ("actor", "action", "target", "timestamp")


@dataclass
class SocialDataset:
    """Flat events sorted by (actor, time) with a leave-last-out split; users share one id space."""

    actor: torch.Tensor  # [E] long, actor id in [0, num_users)
    action: torch.Tensor  # [E] long, action type in [0, num_actions)
    target: torch.Tensor  # [E] long, target user id in [0, num_users)
    start: torch.Tensor  # [num_users] long, flat index of each actor's first event
    train_idx: torch.Tensor  # [E_train] flat indices of training examples
    val_idx: torch.Tensor  # [A] each actor's second-to-last event
    test_idx: torch.Tensor  # [A] each actor's last event
    num_users: int
    num_actions: int

    def target_counts(self) -> torch.Tensor:
        """``[num_users]`` how often each user is a training target (popularity, log-Q frequencies)."""
        return torch.bincount(self.target[self.train_idx], minlength=self.num_users).float()

    def history(self, idx: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``length`` events before each event ``idx``, left-padded: ``(actions, targets, mask)``, ``[B, N]``.

        ``mask`` is true on real events; padded positions hold id 0 and must be ignored through the mask.
        """
        pos = idx.unsqueeze(1) - length + torch.arange(length)  # [B, N]
        mask = pos >= self.start[self.actor[idx]].unsqueeze(1)  # [B, N]
        pos = pos.clamp(min=0)
        zero = torch.zeros((), dtype=torch.long)
        return torch.where(mask, self.action[pos], zero), torch.where(mask, self.target[pos], zero), mask


def build_dataset(
    actor: torch.Tensor,
    action: torch.Tensor,
    target: torch.Tensor,
    time: torch.Tensor,
    num_users: int,
    num_actions: int,
) -> SocialDataset:
    """Sort events by (actor, time) and split each actor's sequence leave-last-out (needs ≥ 3 events per actor)."""
    order = torch.argsort(time, stable=True)
    order = order[torch.argsort(actor[order], stable=True)]
    actor, action, target = actor[order], action[order], target[order]
    counts = torch.bincount(actor, minlength=num_users)  # [U]
    start = torch.cumsum(counts, 0) - counts
    active = counts > 0
    assert int(counts[active].min()) >= 3, "every actor needs a train, a val and a test event"
    end = (start + counts)[active]  # one past each active actor's last event
    is_train = torch.ones(actor.numel(), dtype=torch.bool)
    is_train[end - 1] = False
    is_train[end - 2] = False
    return SocialDataset(
        actor=actor,
        action=action,
        target=target,
        start=start,
        train_idx=torch.nonzero(is_train).squeeze(1),
        val_idx=end - 2,
        test_idx=end - 1,
        num_users=num_users,
        num_actions=num_actions,
    )


def generate_social(cfg: TwoTowerData) -> SocialDataset:
    """Synthetic social interactions whose structure makes the searched knobs matter.

    Planted signals:

    * **communities**: users are split evenly into ``num_communities``; most targets come from the actor's own
      community, so in-batch negatives from the same community are hard and random ones are mostly easy;
    * **action types whose targets differ** (type = action mod 3): *messages* go to the successor (in a fixed
      cyclic order inside the community) of the previous target with probability ``p_sequential``, else to a
      community member; *follows* go to one of ``num_popular`` very popular users 60% of the time, else to a
      member of the neighbouring community; *replies* go back to one of the last three targets. The query tower
      must combine the action with the history, and the sequential rule is what the history encoder and the
      temporal pretraining loss (``temporal_k``, ``temporal_loss_weight``) can pick up;
    * **a few very popular targets**: their share of the training targets biases in-batch negatives towards them,
      which is what random negatives (``num_rand_negs``) and the log-Q correction (``log_q``) counter.

    Actors have between half of ``max_events`` and ``max_events`` events, so histories have different lengths
    and the history mask matters. Deterministic from ``cfg.seed``; vectorised over users, looped over time steps.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    num_users, num_comm, steps = cfg.num_users, cfg.num_communities, cfg.max_events
    users = torch.arange(num_users)
    perm = torch.randperm(num_users, generator=g)
    community = torch.empty(num_users, dtype=torch.long)
    community[perm] = users % num_comm
    members = torch.argsort(community, stable=True)  # users grouped by community
    size = torch.bincount(community, minlength=num_comm)  # [C]
    cstart = torch.cumsum(size, 0) - size
    member_comm = community[members]
    nxt = cstart[member_comm] + (users - cstart[member_comm] + 1) % size[member_comm]
    successor = torch.empty(num_users, dtype=torch.long)
    successor[members] = members[nxt]
    popular = perm[: cfg.num_popular]
    action_probs = -torch.log(
        torch.rand(num_users, cfg.num_actions, generator=g).clamp(min=1e-12)
    )  # Dirichlet(1)
    action_probs = action_probs / action_probs.sum(1, keepdim=True)

    def member_of(comm: torch.Tensor) -> torch.Tensor:
        pick = (torch.rand(comm.numel(), generator=g) * size[comm]).long()
        return members[cstart[comm] + pick]

    actions = torch.multinomial(action_probs, steps, replacement=True, generator=g)  # [U, T]
    targets = torch.zeros(num_users, steps, dtype=torch.long)
    for t in range(steps):
        kind = actions[:, t] % 3
        own = member_of(community)
        prev = targets[:, t - 1] if t > 0 else own
        sequential = torch.rand(num_users, generator=g) < (cfg.p_sequential if t > 0 else 0.0)
        message = torch.where(sequential, successor[prev], own)
        star = popular[torch.randint(cfg.num_popular, (num_users,), generator=g)]
        to_star = torch.rand(num_users, generator=g) < 0.6
        follow = torch.where(to_star, star, member_of((community + 1) % num_comm))
        back = torch.randint(1, min(t, 3) + 1, (num_users,), generator=g) if t > 0 else None
        reply = targets[users, t - back] if back is not None else own
        chosen = torch.where(kind == 0, message, torch.where(kind == 1, follow, reply))
        targets[:, t] = torch.where(chosen == users, successor[chosen], chosen)  # nobody targets themselves

    half = max(3, steps // 2)
    lengths = torch.randint(half, steps + 1, (num_users,), generator=g).clamp(max=steps)  # [U]
    keep = torch.arange(steps).unsqueeze(0) >= (steps - lengths).unsqueeze(1)  # [U, T], the last `length`
    time = torch.arange(steps).expand(num_users, steps)
    actor = users.unsqueeze(1).expand(num_users, steps)
    return build_dataset(
        actor[keep], actions[keep], targets[keep], time[keep].double(), num_users, cfg.num_actions
    )


def _fail(path: Path, message: str) -> DataError:
    return DataError(f"{path}: {message}")


def load_csv(cfg: TwoTowerData) -> SocialDataset:
    """Read ``actor, action, target, timestamp`` rows (a header is required; extra columns are ignored).

    ``actor`` and ``target`` are integer user ids in one id space (a JODIE-style interaction log), ``action`` is
    an integer or a name, ``timestamp`` a number. Ids are remapped to ``0..n-1``; actors with fewer than
    ``min_events`` events are dropped. Every problem raises :class:`DataError` naming the file, line, column and
    value.
    """
    import pandas as pd

    path = Path(str(cfg.path))
    expected = f"a CSV with header {','.join(COLUMNS)} separated by {cfg.delimiter!r}"
    if not path.is_file():
        raise _fail(path, f"file not found; expected {expected}")
    try:
        frame = pd.read_csv(path, sep=cfg.delimiter, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise _fail(path, f"file is empty; expected {expected}") from None
    except pd.errors.ParserError as exc:
        raise _fail(path, f"cannot parse ({str(exc).strip()}); expected {expected}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        hint = " (wrong delimiter?)" if len(frame.columns) == 1 else ""
        raise _fail(
            path, f"missing column(s) {missing} in header {list(frame.columns)}{hint}; expected {expected}"
        )
    if len(frame) == 0:
        raise _fail(path, f"no data rows; expected {expected}")
    for col in COLUMNS:
        values = frame[col]
        empty = values.isna() | (values.astype(str).str.strip() == "")
        if empty.any():
            line = int(empty.to_numpy().nonzero()[0][0]) + 2
            raise _fail(path, f"line {line}, column {col!r}: missing value (truncated row?)")
        frame[col] = values.astype(str).str.strip()
    for col in ("actor", "target"):
        bad = ~frame[col].str.fullmatch(r"[+-]?\d+")
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise _fail(
                path, f"line {row + 2}, column {col!r}: {frame[col].iloc[row]!r} is not an integer id"
            )
    stamps = pd.to_numeric(frame["timestamp"], errors="coerce")
    if stamps.isna().any():
        row = int(stamps.isna().to_numpy().nonzero()[0][0])
        raise _fail(
            path, f"line {row + 2}, column 'timestamp': {frame['timestamp'].iloc[row]!r} is not a number"
        )

    actor_raw = torch.tensor(frame["actor"].astype("int64").to_numpy())
    target_raw = torch.tensor(frame["target"].astype("int64").to_numpy())
    action_codes = torch.tensor(pd.factorize(frame["action"], sort=True)[0])
    time = torch.tensor(stamps.to_numpy(dtype="float64"))
    _, actor_inv, counts = torch.unique(actor_raw, return_inverse=True, return_counts=True)
    keep = counts[actor_inv] >= cfg.min_events
    if not bool(keep.any()):
        raise _fail(
            path, f"no actor has at least min_events={cfg.min_events} events (most: {int(counts.max())})"
        )
    users, inverse = torch.unique(torch.cat([actor_raw[keep], target_raw[keep]]), return_inverse=True)
    n = int(keep.sum())
    return build_dataset(
        inverse[:n], action_codes[keep], inverse[n:], time[keep], users.numel(), int(action_codes.max()) + 1
    )
