"""What the project's command-line scripts share: one-line errors, counts, JSON flags, and
flags made from a record's fields (`add_field_flags`)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import json
import textwrap
from collections.abc import Iterable
from typing import Any


class OneLineParser(argparse.ArgumentParser):
    """Errors as one line (no usage block): ``<prog>: error: ...``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    """An integer >= 1, also in scientific notation (``4e6``) when that is a whole number; an
    `argparse.ArgumentTypeError` otherwise (so it serves as an argparse ``type``)."""
    try:
        number = float(text) if "e" in text.lower() else int(text)
        whole = int(number)
    except (ValueError, OverflowError):
        whole = number = 0
    if number != whole or whole < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return whole


def json_object(text: str, flag: str) -> dict:
    """A flag's JSON object, or a ValueError naming the flag in one line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{flag} is not JSON ({err.msg}): {text}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object, got {text}")
    return value


def flag(name: str) -> str:
    """A field's command-line flag: ``--ppo-config`` for ``ppo_config``."""
    return "--" + name.replace("_", "-")


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass `cls` (its source's string after the
    field), whitespace folded to single spaces."""
    source = textwrap.dedent(inspect.getsource(cls))
    body = ast.parse(source).body[0].body
    docs = {}
    for node, after in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def add_field_flags(parser: argparse.ArgumentParser, cls: type, names: Iterable[str], *,
                    defaults: dict[str, str] | None = None,
                    notes: dict[str, str] | None = None) -> None:
    """Adds ``--field-name`` for each of `names`, fields of dataclass `cls`: its help is the
    field's docstring (then `notes`' text for it, e.g. the valid names at run time), its
    ``metavar`` and ``action`` the field's metadata; its value is the text as typed (None
    where not given, else `defaults`' text, shown in the help), which the record's own
    parsing and checks read."""
    docs = field_docs(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        meta = fields[name].metadata
        text = " ".join([docs[name], *([notes[name]] if notes and name in notes else [])])
        text = text.replace("%", "%%")
        kwargs: dict[str, Any] = {"dest": name, "help": text}
        if meta.get("action"):
            kwargs["action"] = meta["action"]
        if meta.get("metavar"):
            kwargs["metavar"] = meta["metavar"]
        default = fields[name].default
        if defaults and name in defaults:
            kwargs["default"] = defaults[name]
            kwargs["help"] += " (default %(default)s)"
        elif isinstance(default, str | int) and not isinstance(default, bool):
            kwargs["help"] += f" (default {default})"
        parser.add_argument(flag(name), **kwargs)
