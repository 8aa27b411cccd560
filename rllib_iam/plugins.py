"""Names of things a module of the user's own registers: ``module:name``.

Envs (``my_envs:toy/Echo-v0``) and models (``my_models:gru_k``) are named the same way: the
part before the last ``:`` is a module whose import registers the part after it, in whatever
process meets the name (gymnasium's own form for envs).
"""

from __future__ import annotations

import importlib


def import_named(name: str, kind: str) -> str:
    """The registered part of `name`, after importing its module where it has one; a one-line
    ValueError (``unknown <kind> ...: cannot import ...``) when that import fails."""
    module, _, short = name.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"unknown {kind} {name!r}: cannot import {module} ({err})") from None
    return short
