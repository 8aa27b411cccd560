"""What the project's command-line scripts share."""

from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    """Errors as one line (no usage block): ``<prog>: error: ...``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")
