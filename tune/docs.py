"""Generate the README's reference tables from the code, so they cannot drift from it.

``python -m tune.docs`` rewrites the blocks between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers in
README.md: ``cli`` (every flag of ``python -m tune.run``), ``spec`` (every spec key with its default and meaning)
and ``knobs`` (every trainable's config and data knobs). ``--check`` exits 1 when README.md is stale; a test runs it.
"""

from __future__ import annotations

import argparse
import re
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from trainables import REGISTRY, resolve

README = Path(__file__).resolve().parent.parent / "README.md"


def _allowed(info: Any) -> str:
    ann = info.annotation
    if typing.get_origin(ann) is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(ann))
    bounds = []
    for m in info.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {getattr(m, attr)}")
    name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
    return f"{name} " + ", ".join(bounds) if bounds else name


def _default(info: Any) -> str:
    if info.default is PydanticUndefined:
        if info.default_factory is not None:
            value = info.default_factory()
            return f"`{value}`" if not isinstance(value, BaseModel) else "see below"
        return "required"
    return f"`{info.default}`"


def field_row(name: str, info: Any) -> str:
    text = (info.description or "").replace("|", "\\|")
    allowed = _allowed(info).replace(" | ", " \\| ") if "`" not in _allowed(info) else _allowed(info)
    return f"| `{name}` | {_default(info)} | {allowed} | {text} |"


def model_table(model: type[BaseModel], prefix: str = "") -> list[str]:
    return [field_row(f"{prefix}{name}", info) for name, info in model.model_fields.items()]


def knobs_block() -> str:
    out = []
    for name in sorted(REGISTRY):
        cls = resolve(name)
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        out += [
            f"#### `{name}`",
            "",
            doc,
            "",
            "| knob | default | allowed | meaning |",
            "| --- | --- | --- | --- |",
        ]
        out += model_table(cls.Config)
        out += [
            "",
            "Data (`data:`):",
            "",
            "| key | default | allowed | meaning |",
            "| --- | --- | --- | --- |",
        ]
        out += model_table(cls.DataConfig)
        out.append("")
    return "\n".join(out).rstrip()


def spec_block() -> str:
    from tune.spec import ExperimentSpec

    out = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for name, info in ExperimentSpec.model_fields.items():
        sub = [
            a
            for a in (info.annotation, *typing.get_args(info.annotation))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if sub:
            out += model_table(sub[0], prefix=f"{name}.")
        else:
            out.append(field_row(name, info))
    return "\n".join(out)


def cli_block() -> str:
    from tune.run import build_parser

    out = ["| flag | meaning |", "| --- | --- |"]
    for action in build_parser()._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = ", ".join(action.option_strings) or action.dest.upper()
        if action.metavar and action.option_strings:
            flag += f" {action.metavar}"
        elif action.option_strings and not isinstance(action, (argparse._StoreTrueAction,)):
            flag += f" {action.dest.upper()}"
        out.append(f"| `{flag}` | {(action.help or '').replace('|', '/')} |")
    return "\n".join(out)


BLOCKS = {"cli": cli_block, "spec": spec_block, "knobs": knobs_block}


def render(text: str) -> str:
    for name, fn in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        body = fn() + "\n"
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tune.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is not up to date")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print("README.md is stale: run python -m tune.docs", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
