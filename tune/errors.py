"""The one error type users see: it names the file, the key, the value and what is allowed, on one line."""

from __future__ import annotations

from typing import Any

EXIT_USAGE = 2


class SpecError(Exception):
    """Bad user input (a spec, a flag, a data file), reported before Ray starts; the CLI exits with code 2."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        value: Any = ...,
        allowed: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key = key
        self.value = value
        self.allowed = allowed
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where]
        if self.key:
            parts.append(f"key '{self.key}'")
        if self.value is not ...:
            shown = repr(self.value)
            parts.append(f"value {shown[:120]}")
        text = ": ".join([", ".join(parts), self.message])
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text.replace("\n", " ")
