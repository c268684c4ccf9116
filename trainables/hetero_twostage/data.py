"""Data of the ``hetero_twostage`` trainable: an employee / position / department graph with two tasks.

Both sources produce one :class:`HeteroTaskData` (plain tensors, picklable, shared by every trial of a node):

* **turnover** — one binary label per employee (rare: about 5–10 % leave), split by employee into
  train / val / test;
* **preference** — positions each employee prefers (implicit feedback). Per employee with at least three
  preferences, one goes to test, one to val and the rest to train; each held-out preference is paired with a
  fixed set of non-preferred positions (half from the same department as the preferred one, half uniform),
  drawn once from the data seed so every trial is judged on the same pairs.

The embedded generator (:func:`synthetic`) plants the signals that make the searched knobs matter; the loader
(:func:`load_csv`) reads four plain CSV tables whose schema is in its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from trainables.protocol import DataError

TRAIN, VAL, TEST = 0, 1, 2


@dataclass
class HeteroTaskData:
    """The graph, the features and the labels of both tasks (CPU tensors)."""

    emp_x: torch.Tensor  # [E, Fe] standardised employee features
    pos_x: torch.Tensor  # [P, Fp] standardised position features
    dept_x: torch.Tensor  # [D, Fd] department features
    emp_dept: torch.Tensor  # [E] department of each employee
    pos_dept: torch.Tensor  # [P] department of each position
    manager: torch.Tensor  # [E] manager's employee index, -1 for none
    turnover: torch.Tensor  # [E] float 0/1 label
    emp_split: torch.Tensor  # [E] TRAIN / VAL / TEST
    pref_train: torch.Tensor  # [N, 2] (employee, preferred position)
    pref_val: torch.Tensor  # [Nv, 2]
    pref_test: torch.Tensor  # [Nt, 2]
    val_neg: torch.Tensor  # [Nv, K] fixed non-preferred positions of each val preference
    test_neg: torch.Tensor  # [Nt, K]

    @property
    def num_employees(self) -> int:
        return self.emp_x.size(0)

    @property
    def num_positions(self) -> int:
        return self.pos_x.size(0)

    @property
    def num_departments(self) -> int:
        return self.dept_x.size(0)


def _standardise(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(0)) / x.std(0).clamp(min=1e-6)


def _split_employees(num: int, val: float, test: float, gen: torch.Generator) -> torch.Tensor:
    perm = torch.randperm(num, generator=gen)
    n_test, n_val = int(round(test * num)), int(round(val * num))
    split = torch.full((num,), TRAIN, dtype=torch.long)
    split[perm[:n_test]] = TEST
    split[perm[n_test : n_test + n_val]] = VAL
    return split


def _split_preferences(pairs: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Per employee with ≥3 preferences: a random one to test, another to val, the rest to train."""
    key = torch.rand(pairs.size(0), generator=gen)
    order = torch.argsort(key)
    order = order[torch.argsort(pairs[order, 0], stable=True)]  # grouped by employee, random within
    pairs = pairs[order]
    emp = pairs[:, 0]
    counts = torch.bincount(emp)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(emp.numel()) - starts[emp]  # position within the employee's group
    enough = counts[emp] >= 3
    test = enough & (rank == 0)
    val = enough & (rank == 1)
    return pairs[~(test | val)], pairs[val], pairs[test]


def _eval_negatives(
    pairs: torch.Tensor, preferred: torch.Tensor, pos_dept: torch.Tensor, k: int, gen: torch.Generator
) -> torch.Tensor:
    """``[N, k]`` non-preferred positions per pair: ``k // 2`` from the preferred one's department, rest any.

    ``preferred`` is the ``[E, P]`` bool matrix of all preferences (every split), so no negative is ever a
    position the employee prefers. Rows without a same-department candidate fall back to any non-preferred
    one.
    """
    allowed = ~preferred[pairs[:, 0]]  # [N, P]
    same = allowed & (pos_dept.unsqueeze(0) == pos_dept[pairs[:, 1]].unsqueeze(1))  # [N, P]
    fallback = allowed.float() + 1e-12
    w_same = torch.where(same.any(1, keepdim=True), same.float(), allowed.float()) + 1e-12
    n_same = k // 2
    out = [torch.multinomial(fallback, k - n_same, replacement=True, generator=gen)]
    if n_same:
        out.insert(0, torch.multinomial(w_same, n_same, replacement=True, generator=gen))
    return torch.cat(out, dim=1)


def _finish(
    emp_x: torch.Tensor,
    pos_x: torch.Tensor,
    emp_dept: torch.Tensor,
    pos_dept: torch.Tensor,
    manager: torch.Tensor,
    turnover: torch.Tensor,
    prefs: torch.Tensor,
    num_departments: int,
    val_fraction: float,
    test_fraction: float,
    eval_negatives: int,
    gen: torch.Generator,
) -> HeteroTaskData:
    """Shared tail of both sources: department features, splits and the fixed evaluation negatives."""
    num_emp, num_pos = emp_x.size(0), pos_x.size(0)
    emp_count = torch.bincount(emp_dept, minlength=num_departments).float()
    pos_count = torch.bincount(pos_dept, minlength=num_departments).float()
    dept_x = torch.stack([torch.log1p(emp_count), torch.log1p(pos_count)], dim=1)  # [D, 2]
    prefs = torch.unique(prefs, dim=0)
    preferred = torch.zeros(num_emp, num_pos, dtype=torch.bool)
    preferred[prefs[:, 0], prefs[:, 1]] = True
    emp_split = _split_employees(num_emp, val_fraction, test_fraction, gen)
    for code, name in ((VAL, "val"), (TEST, "test")):
        if turnover[emp_split == code].sum() == 0:  # AUPR, AUROC and F1 would be undefined
            raise DataError(
                f"turnover: the {name} split ({int((emp_split == code).sum())} employees) has no one who left; "
                "expected at least one (more employees, a larger split fraction or a higher turnover rate)"
            )
    pref_train, pref_val, pref_test = _split_preferences(prefs, gen)
    return HeteroTaskData(
        emp_x=_standardise(emp_x.float()),
        pos_x=_standardise(pos_x.float()),
        dept_x=_standardise(dept_x),
        emp_dept=emp_dept.long(),
        pos_dept=pos_dept.long(),
        manager=manager.long(),
        turnover=turnover.float(),
        emp_split=emp_split,
        pref_train=pref_train,
        pref_val=pref_val,
        pref_test=pref_test,
        val_neg=_eval_negatives(pref_val, preferred, pos_dept, eval_negatives, gen),
        test_neg=_eval_negatives(pref_test, preferred, pos_dept, eval_negatives, gen),
    )


def synthetic(
    num_employees: int,
    num_positions: int,
    num_departments: int,
    prefs_per_employee: int,
    skill_dim: int,
    pref_noise: float,
    turnover_rate: float,
    val_fraction: float,
    test_fraction: float,
    eval_negatives: int,
    seed: int,
) -> HeteroTaskData:
    """An HR graph whose turnover needs the graph and whose preferences need hard negatives.

    Planted signals, and the knob each one makes matter:

    * **turnover through the graph**: each department has a hidden *climate*; every employee's observed
      ``satisfaction`` is that climate plus heavy noise (σ = 2), so one employee's own feature says little but
      the mean over the department's colleagues estimates it well. Each non-manager's risk also rises with
      their manager's observed ``stress``. Only message passing over ``works_in`` and ``reports_to`` edges
      sees either (``model: gnn`` vs ``mlp``/``gbdt``, ``num_layers`` ≥ 2 to go employee → department →
      employee). Own features (tenure, overtime, performance) add a direct part. The label is the top
      ``turnover_rate`` of the noisy risk, so positives are rare and focal ``focal_alpha`` / ``focal_gamma``
      and the tuned threshold matter.
    * **preferences by latent match**: employees carry a skill vector and positions a requirement vector, both
      near their department's centre; an employee prefers the ``prefs_per_employee`` positions of highest
      ``skill · requirement`` (plus Gumbel noise of scale ``pref_noise``). Noisy copies of both vectors are
      features. Uniform negatives mostly come from other departments and are separated by the centre alone;
      telling apart positions *within* a department needs the fine match, which only hard negatives
      (``hard_ratio``, ``cache_size``) teach — and half of the evaluation negatives are such same-department
      positions.
    """
    gen = torch.Generator().manual_seed(seed)
    emp_dept = torch.randint(num_departments, (num_employees,), generator=gen)
    pos_dept = torch.arange(num_positions) % num_departments
    centres = 1.5 * torch.randn(num_departments, skill_dim, generator=gen)
    skill = centres[emp_dept] + torch.randn(num_employees, skill_dim, generator=gen)  # [E, k]
    req = centres[pos_dept] + 0.7 * torch.randn(num_positions, skill_dim, generator=gen)  # [P, k]
    # managers: the first ~8 % of each department's employees (by index), others report to one of them
    order = torch.argsort(emp_dept * num_employees + torch.arange(num_employees))
    counts = torch.bincount(emp_dept, minlength=num_departments)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(num_employees, dtype=torch.long)
    rank[order] = torch.arange(num_employees) - starts[emp_dept[order]]
    n_mgr = (counts.float() * 0.08).ceil().long().clamp(min=1)  # [D]
    is_mgr = rank < n_mgr[emp_dept]
    pick = (torch.rand(num_employees, generator=gen) * n_mgr[emp_dept]).long()  # which manager of the dept
    manager = torch.where(is_mgr, torch.full_like(pick, -1), order[starts[emp_dept] + pick])

    climate = torch.randn(num_departments, generator=gen)
    tenure = torch.randn(num_employees, generator=gen)
    overtime = torch.randn(num_employees, generator=gen)
    perf = torch.randn(num_employees, generator=gen)
    stress = torch.randn(num_employees, generator=gen)
    satisfaction = climate[emp_dept] + 2.0 * torch.randn(num_employees, generator=gen)
    mgr_stress = torch.where(is_mgr, torch.zeros_like(stress), stress[manager.clamp(min=0)])
    risk = -1.6 * climate[emp_dept] + 1.2 * mgr_stress - 0.6 * tenure + 0.6 * overtime - 0.4 * perf
    u = torch.rand(num_employees, generator=gen).clamp(1e-6, 1 - 1e-6)
    risk = risk + 0.5 * torch.log(u / (1 - u))  # logistic noise
    turnover = (risk >= torch.quantile(risk, 1.0 - turnover_rate)).float()

    skill_obs = skill + 0.3 * torch.randn(num_employees, skill_dim, generator=gen)
    req_obs = req + 0.3 * torch.randn(num_positions, skill_dim, generator=gen)
    emp_x = torch.cat([torch.stack([tenure, overtime, perf, stress, satisfaction], 1), skill_obs], 1)
    level = torch.randn(num_positions, 1, generator=gen)
    pos_x = torch.cat([level, req_obs], 1)

    match = skill @ req.t() / math.sqrt(skill_dim)  # [E, P]
    u = torch.rand(num_employees, num_positions, generator=gen).clamp(1e-9, 1 - 1e-9)
    top = torch.topk(
        match - pref_noise * torch.log(-torch.log(u)), prefs_per_employee, dim=1
    ).indices  # [E, n]
    prefs = torch.stack(
        [torch.arange(num_employees).repeat_interleave(prefs_per_employee), top.reshape(-1)], 1
    )
    return _finish(
        emp_x, pos_x, emp_dept, pos_dept, manager, turnover, prefs, num_departments,
        val_fraction, test_fraction, eval_negatives, gen,
    )  # fmt: skip
