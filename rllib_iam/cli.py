"""What the project's command-line scripts share."""

from __future__ import annotations

import argparse
import json


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
