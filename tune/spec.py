"""The experiment spec: one YAML file per scientific question, validated before anything starts.

``load_spec(path, overrides, smoke)`` reads the YAML strictly (:mod:`tune.yamlio`), applies ``--set`` overrides
and the ``smoke:`` block, validates the structure with pydantic (unknown keys are errors), then checks ``data``,
``config`` and ``space`` against the trainable's own ``DataConfig`` / ``Config`` (field names and ranges) and the
``metric`` against the keys the trainable reports. Every failure is one :class:`~tune.errors.SpecError`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainables import REGISTRY, resolve
from trainables.protocol import Trainable
from tune.errors import SpecError
from tune.space import Dimension, SpaceError, count_trials, parse_space
from tune.yamlio import parse_value, read_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchSpec(_Strict):
    """How configs are proposed."""

    algorithm: Literal["grid", "random", "optuna"] = Field(
        "random", description="grid, random or optuna (TPE)."
    )
    num_samples: int = Field(1, ge=1, description="optuna: total trials; grid/random: repeats of the grid.")
    max_concurrent: int | None = Field(
        None, ge=1, description="Most trials running at once (None: as resources allow)."
    )
    seed: int = Field(0, ge=0, description="Seed of the searcher (TPE sampler or random variant generator).")
    optuna_storage: str | None = Field(
        None,
        description="Optuna storage for a live optuna-dashboard: an sqlite URL or a path ending in .journal.",
    )


class SchedulerSpec(_Strict):
    """Which trials are stopped early."""

    type: Literal["fifo", "asha", "hyperband"] = Field("fifo", description="fifo (none), asha or hyperband.")
    grace_period: int = Field(1, ge=1, description="ASHA: epochs every trial runs before it can be stopped.")
    reduction_factor: float = Field(
        3.0, gt=1.0, description="ASHA/HyperBand: keep 1/reduction_factor per rung."
    )
    max_t: int | None = Field(None, ge=1, description="Most epochs of a trial (default: config max_epochs).")
    brackets: int = Field(1, ge=1, description="ASHA brackets.")


class ResourcesSpec(_Strict):
    """What each trial asks for."""

    cpu: float = Field(1.0, gt=0.0, description="CPUs per trial.")
    gpu: float = Field(0.0, ge=0.0, description="GPUs per trial; a fraction (0.25) packs trials on one GPU.")


class CheckpointSpec(_Strict):
    """How often trials save their state, and how many states are kept."""

    every: int = Field(1, ge=1, description="Checkpoint every N epochs (and at the last epoch).")
    keep: int = Field(2, ge=1, description="Checkpoints kept per trial (older ones are deleted).")


class FailureSpec(_Strict):
    """What happens when a trial raises."""

    max_failures: int = Field(1, ge=0, description="Retries of a failing trial, from its last checkpoint.")
    time_limit_s: float | None = Field(
        None,
        gt=0,
        description="Wall-clock limit of one trial attempt; a hung trial is stopped and marked TIMED_OUT.",
    )


class ReplicateSpec(_Strict):
    """The replicate phase: top configs and named baselines re-run once per seed, to completion."""

    top_k: int = Field(3, ge=0, description="Best search configs (by validation) re-run over seeds.")
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], min_length=1, description="Replication seeds."
    )
    baselines: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named ablations: the best config with these overrides, re-run over the same seeds.",
    )


class SmokeSpec(_Strict):
    """What ``--smoke`` shrinks: each block is merged over the spec's own."""

    data: dict[str, Any] = Field(
        default_factory=dict, description="Merged over data: (smaller generator sizes)."
    )
    config: dict[str, Any] = Field(default_factory=dict, description="Merged over config: (fewer epochs).")
    space: dict[str, Any] = Field(default_factory=dict, description="Merged over space: (fewer grid values).")
    search: dict[str, Any] = Field(default_factory=dict, description="Merged over search: (fewer samples).")
    scheduler: dict[str, Any] = Field(default_factory=dict, description="Merged over scheduler:.")
    resources: dict[str, Any] = Field(default_factory=dict, description="Merged over resources:.")
    replicate: dict[str, Any] = Field(
        default_factory=dict, description="Merged over replicate: (fewer seeds)."
    )


class ExperimentSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Experiment folder name.")
    trainable: str = Field(description="Registry name or 'package.module:Class'.")
    data: dict[str, Any] = Field(default_factory=dict, description="The trainable's DataConfig.")
    config: dict[str, Any] = Field(default_factory=dict, description="Fixed knobs of the trainable's Config.")
    space: dict[str, Any] = Field(default_factory=dict, description="Searched knobs.")
    metric: str = Field(pattern=r"^(train|val)/.+", description="Selection metric, e.g. val/hr@10.")
    mode: Literal["max", "min"] = Field("max", description="Whether the metric is maximised or minimised.")
    search: SearchSpec = Field(default_factory=SearchSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    failure: FailureSpec = Field(default_factory=FailureSpec)
    storage: str = Field("results", description="Folder (or URI) under which <name>/ is written.")
    replicate: ReplicateSpec | None = Field(
        None, description="Replicate phase after the search (see replicate.*)."
    )
    smoke: SmokeSpec | None = Field(None, description="What --smoke shrinks (see smoke.*).")


@dataclass
class ResolvedSpec:
    """A validated spec and what was derived from it."""

    spec: ExperimentSpec
    path: str
    trainable_cls: type[Trainable]
    dims: list[Dimension]
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def num_trials(self) -> int:
        return count_trials(self.dims, self.spec.search.algorithm, self.spec.search.num_samples)

    @property
    def max_epochs(self) -> int:
        return int(self.trainable_cls.Config(**self.spec.config).max_epochs)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` (nested mappings merged, other values replaced)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and not _is_dim(v) and not _is_dim(out[k]):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _is_dim(value: Any) -> bool:
    from tune.space import KINDS

    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set key.path=value`` to the raw spec mapping (value parsed as YAML)."""
    if "=" not in assignment:
        raise SpecError("expected KEY.PATH=VALUE", file="--set", value=assignment)
    path, _, text = assignment.partition("=")
    parts = [p for p in path.strip().split(".") if p]
    if not parts:
        raise SpecError("empty key path", file="--set", value=assignment)
    node = raw
    for p in parts[:-1]:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        if not isinstance(child, dict):
            raise SpecError("cannot set a key inside a non-mapping", file="--set", key=path, value=child)
        node = child
    node[parts[-1]] = parse_value(text)


def _first_error(exc: ValidationError) -> Any:
    """The error to show: an unknown key first (a misspelt key also makes its right spelling "missing")."""
    errors = exc.errors()
    return next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])


def _pydantic_error(
    exc: ValidationError, file: str, prefix: str, lines: dict[tuple[str, ...], int]
) -> SpecError:
    err = _first_error(exc)
    loc = tuple(str(x) for x in err["loc"])
    key = ".".join((prefix, *loc) if prefix else loc)
    allowed = None
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        allowed = str(ctx["expected"])
    elif err["type"] == "extra_forbidden":
        allowed = None
    message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    line = lines.get(tuple(key.split(".")))
    value = err.get("input", ...)
    if err["type"] == "missing":
        value = ...
    return SpecError(message, file=file, key=key, value=value, allowed=allowed, line=line)


def load_spec(path: str | Path, overrides: list[str] | None = None, smoke: bool = False) -> ResolvedSpec:
    """Read, override, shrink and validate a spec file. Raises :class:`SpecError` on any bad input."""
    file = str(path)
    raw, lines = read_yaml(path)
    if raw is None:
        raise SpecError(
            "the spec file is empty", file=file, allowed="a mapping with name, trainable, metric, ..."
        )
    if not isinstance(raw, dict):
        raise SpecError("the spec must be a mapping", file=file, value=raw)
    for assignment in overrides or []:
        apply_override(raw, assignment)
    return validate_spec(raw, file=file, lines=lines, smoke=smoke)


def validate_spec(
    raw: dict[str, Any],
    file: str = "<spec>",
    lines: dict[tuple[str, ...], int] | None = None,
    smoke: bool = False,
) -> ResolvedSpec:
    """Validate a raw spec mapping (already overridden); see :func:`load_spec`."""
    lines = lines or {}
    raw = copy.deepcopy(raw)
    if smoke:
        block = raw.get("smoke")
        if not isinstance(block, dict):
            raise SpecError("--smoke needs a smoke: block in the spec", file=file, key="smoke")
        for section, values in block.items():
            if isinstance(values, dict) and isinstance(raw.get(section, {}), dict):
                raw[section] = deep_merge(raw.get(section) or {}, values)
    try:
        spec = ExperimentSpec(**raw)
    except ValidationError as exc:
        error = _pydantic_error(exc, file, "", lines)
        if _first_error(exc)["type"] == "extra_forbidden":
            error.allowed = _allowed_for(exc)  # the keys allowed where the unknown one stands
        raise error from None

    if spec.trainable not in REGISTRY and ":" not in spec.trainable:
        raise SpecError(
            "unknown trainable",
            file=file,
            key="trainable",
            value=spec.trainable,
            line=lines.get(("trainable",)),
            allowed=", ".join(sorted(REGISTRY)) + " or package.module:Class",
        )
    try:
        cls = resolve(spec.trainable)
    except LookupError as exc:
        raise SpecError(str(exc), file=file, key="trainable", value=spec.trainable) from None

    _check_model(cls.DataConfig, spec.data, "data", file, lines)
    _check_model(cls.Config, spec.config, "config", file, lines)
    try:
        dims = parse_space(spec.space)
    except SpaceError as exc:
        raise SpecError(
            str(exc),
            file=file,
            key=f"space.{exc.key}",
            value=exc.value,
            allowed=exc.allowed,
            line=lines.get(("space", *exc.key.split("."))),
        ) from None
    _check_space(cls, spec, dims, file, lines)
    _check_metric(cls, spec, dims, file, lines)
    if spec.replicate is not None:
        for name, overrides in spec.replicate.baselines.items():
            _check_model(cls.Config, {**spec.config, **overrides}, f"replicate.baselines.{name}", file, lines)
    return ResolvedSpec(spec=spec, path=file, trainable_cls=cls, dims=dims, raw=raw)


def _allowed_for(exc: ValidationError) -> str | None:
    loc = _first_error(exc)["loc"]
    model: Any = ExperimentSpec
    for part in loc[:-1]:
        f = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if f is None or not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)):
            ann = getattr(f, "annotation", None)
            sub = [
                a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            if not sub:
                return None
            model = sub[0]
        else:
            model = f.annotation
    return ", ".join(sorted(model.model_fields))


def _check_model(model: type[BaseModel], values: dict[str, Any], prefix: str, file: str, lines) -> BaseModel:
    try:
        return model(**values)
    except ValidationError as exc:
        error = _pydantic_error(exc, file, prefix, lines)
        if _first_error(exc)["type"] == "extra_forbidden":
            error.allowed = ", ".join(sorted(model.model_fields))
        else:
            error.allowed = error.allowed or _field_range(model, str(_first_error(exc)["loc"][0]))
        raise error from None


def _field_range(model: type[BaseModel], name: str) -> str | None:
    f = model.model_fields.get(name)
    if f is None:
        return None
    bounds = []
    for m in f.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {getattr(m, attr)}")
    ann = getattr(f.annotation, "__name__", str(f.annotation))
    return f"{ann} " + " and ".join(bounds) if bounds else ann


def _check_space(cls: type[Trainable], spec: ExperimentSpec, dims: list[Dimension], file: str, lines) -> None:
    fields = cls.Config.model_fields
    for d in dims:
        top = d.key.split(".")[0]
        line = lines.get(("space", *d.key.split(".")))
        if top not in fields:
            raise SpecError(
                "not a knob of this trainable",
                file=file,
                key=f"space.{d.key}",
                line=line,
                allowed=", ".join(sorted(fields)),
            )
        if d.key in spec.config or top in spec.config and "." not in d.key:
            raise SpecError(
                "a knob cannot be both fixed (config) and searched (space)",
                file=file,
                key=f"space.{d.key}",
                line=line,
            )
        if spec.search.algorithm == "grid" and not d.is_enumerated:
            raise SpecError(
                "the grid algorithm needs enumerated dimensions",
                file=file,
                key=f"space.{d.key}",
                value={d.kind: list(d.args)},
                line=line,
                allowed="grid or choice (or use random/optuna)",
            )
        for v in d.endpoints():
            values = deep_merge(spec.config, _nested(d.key, v))
            try:
                cls.Config(**values)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise SpecError(
                    err["msg"],
                    file=file,
                    key=f"space.{d.key}",
                    value=v,
                    line=line,
                    allowed=_field_range(cls.Config, top),
                ) from None


def _nested(key: str, value: Any) -> dict[str, Any]:
    parts = key.split(".")
    out: dict[str, Any] = {parts[-1]: value}
    for p in reversed(parts[:-1]):
        out = {p: out}
    return out


def first_config(cls: type[Trainable], spec: ExperimentSpec, dims: list[Dimension]) -> dict[str, Any]:
    """The fixed config with each searched knob at its first value/lower bound (a representative config)."""
    values = copy.deepcopy(spec.config)
    for d in dims:
        values = deep_merge(values, _nested(d.key, d.endpoints()[0]))
    return values


def _check_metric(
    cls: type[Trainable], spec: ExperimentSpec, dims: list[Dimension], file: str, lines
) -> None:
    config = cls.Config(**first_config(cls, spec, dims))
    names = cls.metric_names(config)
    split, key = spec.metric.split("/", 1)
    known = names.eval if split == "val" else names.train
    if key not in known:
        raise SpecError(
            "the trainable never reports this metric",
            file=file,
            key="metric",
            value=spec.metric,
            line=lines.get(("metric",)),
            allowed=", ".join(f"{split}/{k}" for k in known),
        )
