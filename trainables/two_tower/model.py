"""The two towers: a query tower over (actor, action, history) and an item tower that is the user table.

Seed system: "Next Target Prediction using UserIDs" (friend recommendation). The query tower combines the actor's
embedding, the action's embedding and a transformer encoding of the actor's left-padded history of
``(action, target)`` tokens (each token is the two D-wide embeddings side by side, so the transformer is 2·D
wide), mean-pooled over the valid positions given by the history mask and projected from 2·D to D by a small MLP
(the ``projection`` knob; the seed's largest gain). The item tower is the user embedding table itself.

The history transformer is causal: position ``t`` attends to positions ``≤ t`` only. A causal encoder makes the
output at ``t`` a function of the prefix ending at ``t``, so the *cumulative* masked mean of one pass over the
whole history is the encoding of every prefix at once. That is how the temporal pretraining loss (predict the
next ``(action, target)`` of each of the last K prefixes) runs in one transformer pass instead of K
(:meth:`TwoTowerNet.temporal_loss`; :meth:`TwoTowerNet.temporal_loss_reference` is the K-pass loop it equals).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables.two_tower.config import TwoTowerConfig


class SwiGLU(nn.Module):
    """Gated linear unit with a SiLU gate (Shazeer, 2020): ``silu(x W_g) * (x W_v)``."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_in, d_out)
        self.value = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.gate(x)) * self.value(x)


def mlp(d_in: int, d_hidden: int, d_out: int, activation: str) -> nn.Sequential:
    """Two-layer MLP whose hidden activation is GELU or a SwiGLU gate (the seed's ``activation`` switch)."""
    first = (
        nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU())
        if activation == "gelu"
        else SwiGLU(d_in, d_hidden)
    )
    return nn.Sequential(first, nn.Linear(d_hidden, d_out))


class TwoTowerNet(nn.Module):
    """Query tower, item tower and the temporal pretraining heads; see the module docstring."""

    def __init__(self, num_users: int, num_actions: int, config: TwoTowerConfig) -> None:
        super().__init__()
        d, width = config.d_emb, 2 * config.d_emb
        self.num_heads = config.num_heads
        self.users = nn.Embedding(num_users, d)  # actors, targets (the item tower) and history targets
        self.actions = nn.Embedding(num_actions, d)
        self.positions = nn.Embedding(config.history_len, width)
        nn.init.normal_(self.users.weight, std=0.1)
        nn.init.normal_(self.actions.weight, std=0.1)
        nn.init.normal_(self.positions.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            width,
            config.num_heads,
            dim_feedforward=2 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.projection = mlp(width, d, d, config.activation) if config.projection else None
        self.history_dim = d if config.projection else width
        self.query_mlp = mlp(2 * d + self.history_dim, d, d, config.activation)
        self.next_action = nn.Linear(
            self.history_dim, num_actions
        )  # temporal loss: next action from a prefix

    def contextualise(self, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """One causal transformer pass over ``[B, N]`` history tokens; returns ``[B, N, 2D]``.

        A position attends to valid positions at or before it, and always to itself, so padded positions (which
        only see themselves) stay finite and never leak into valid ones.
        """
        n = mask.size(1)
        pos = torch.arange(n, device=mask.device)
        tokens = torch.cat([self.actions(actions), self.users(targets)], dim=-1) + self.positions(
            pos
        )  # [B, N, 2D]
        future = pos.unsqueeze(0) > pos.unsqueeze(1)  # [N, N] key after query
        blocked = future.unsqueeze(0) | ~mask.unsqueeze(1)  # [B, N(query), N(key)]
        blocked = blocked & ~torch.eye(n, dtype=torch.bool, device=mask.device)
        out = self.encoder(tokens, mask=blocked.repeat_interleave(self.num_heads, dim=0))  # [B, N, 2D]
        return torch.where(mask.unsqueeze(-1), out, torch.zeros((), dtype=out.dtype, device=out.device))

    def _project(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.projection(pooled) if self.projection is not None else pooled

    def encode_history(
        self, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``[B, H]`` masked mean over the valid positions of the whole history, projected (zeros if empty)."""
        out = self.contextualise(actions, targets, mask)  # [B, N, 2D]
        count = mask.sum(1, keepdim=True).clamp(min=1).to(out.dtype)  # [B, 1]
        return self._project(out.sum(1) / count)

    def encode_prefixes(
        self, actions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``[B, N, H]``: position ``t`` is the encoding of the prefix ending at ``t`` (cumulative masked mean)."""
        out = self.contextualise(actions, targets, mask)  # [B, N, 2D]
        count = torch.cumsum(mask, 1).clamp(min=1).unsqueeze(-1).to(out.dtype)  # [B, N, 1]
        return self._project(torch.cumsum(out, 1) / count)

    def query(self, actor: torch.Tensor, action: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """L2-normalised query ``[..., D]`` from actor ``[...]``, action ``[...]`` and history ``[..., H]``."""
        q = self.query_mlp(torch.cat([self.users(actor), self.actions(action), history], dim=-1))
        return F.normalize(q, dim=-1)

    def item_table(self) -> torch.Tensor:
        """The item tower: ``[U, D]`` L2-normalised user embeddings (scores are cosine similarities)."""
        return F.normalize(self.users.weight, dim=-1)

    def _next_event_losses(
        self,
        actor: torch.Tensor,
        prefix: torch.Tensor,
        next_action: torch.Tensor,
        next_target: torch.Tensor,
        temperature: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed cross-entropies of ``[M]`` next targets (full softmax over all users) and next actions."""
        q = self.query(actor, next_action, prefix)  # [M, D]
        logits = q @ self.item_table().t() / temperature  # [M, U]
        target_loss = F.cross_entropy(logits, next_target, reduction="sum")
        action_loss = F.cross_entropy(self.next_action(prefix), next_action, reduction="sum")
        return target_loss, action_loss

    def temporal_loss(
        self,
        actor: torch.Tensor,
        actions: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        prefixes: torch.Tensor,
        k: int,
        temperature: float,
    ) -> torch.Tensor:
        """Temporal pretraining loss from the prefixes of one pass (:meth:`encode_prefixes`).

        For each of the last ``k`` prefixes (ending at ``t = N-1-k .. N-2``), predict the next event ``t + 1``:
        its target through the query tower (given its action) and its action from the prefix. Pairs whose prefix
        is empty or whose next event is padding are skipped, so histories of any length work. Returns the mean
        over the valid pairs of ``CE(target) + CE(action)``, or 0 when no pair is valid.
        """
        b, n = mask.shape
        t = torch.arange(n - 1 - k, n - 1, device=mask.device)  # [K] last position of each prefix
        valid = mask[:, t] & mask[:, t + 1]  # [B, K]
        count = valid.sum()
        if int(count) == 0:
            return prefixes.sum() * 0.0
        rows = actor.unsqueeze(1).expand(b, k)[valid]  # [M]
        target_loss, action_loss = self._next_event_losses(
            rows, prefixes[:, t][valid], actions[:, t + 1][valid], targets[:, t + 1][valid], temperature
        )
        return (target_loss + action_loss) / count

    def temporal_loss_reference(
        self,
        actor: torch.Tensor,
        actions: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor,
        k: int,
        temperature: float,
    ) -> torch.Tensor:
        """The K-pass loop :meth:`temporal_loss` replaces: one transformer pass per truncated history.

        Kept as the reference of the tests and of ``benchmarks/temporal_loss.py``; never used in training.
        """
        n = mask.size(1)
        total = torch.zeros((), device=mask.device)
        count = torch.zeros((), dtype=torch.long, device=mask.device)
        for j in range(1, k + 1):
            t = n - 1 - j
            prefix = self.encode_history(actions[:, : t + 1], targets[:, : t + 1], mask[:, : t + 1])  # [B, H]
            valid = mask[:, t] & mask[:, t + 1]  # [B]
            if not bool(valid.any()):
                continue
            target_loss, action_loss = self._next_event_losses(
                actor[valid], prefix[valid], actions[valid, t + 1], targets[valid, t + 1], temperature
            )
            total = total + target_loss + action_loss
            count = count + valid.sum()
        return total / count if int(count) else total
