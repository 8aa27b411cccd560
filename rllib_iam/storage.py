"""Where experiments live: a local folder or a cloud URI, told apart and checked once.

`Storage.parse` reads what a user gives as ``--storage-path`` (or the analysis as a run): a
local path, made absolute, or a URI whose scheme is one of `SCHEMES`, read and written through
pyarrow's filesystems as Tune does. Everything that looks at stored experiments (the grid's
checks and its ``grid_spec.json``, ``--status``, the analysis's loaders, the trackers) goes
through it. Imports nothing of Ray, so the analysis can use it.

    >>> Storage.parse("s3://bucket/runs/").experiment("figure5-quick")
    's3://bucket/runs/figure5-quick'
    >>> Storage.parse("ftp://host/runs")
    Traceback (most recent call last):
    ...
    ValueError: unsupported storage URI scheme 'ftp' in ftp://host/runs; use a local path or ...
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMES = ("s3", "gs", "gcs", "file")
"""URI schemes a storage may have (pyarrow's filesystems: S3, Google Cloud Storage, local)."""
URI_FORMS = ", ".join(f"{s}://" for s in SCHEMES[:-1]) + f" or {SCHEMES[-1]}://"
"""`SCHEMES` as a user writes them, for help texts and errors: ``s3://, ..., or file://``."""


@dataclass(frozen=True)
class Storage:
    """A local folder or a URI under which experiments are folders (``<root>/<name>/``)."""

    root: str
    """An absolute local path, or a URI with a scheme in `SCHEMES`; no trailing ``/``."""

    @classmethod
    def parse(cls, text: str, *, noun: str = "storage URI") -> Storage:
        """`text` as a storage: a local path (``~`` expanded, made absolute) or a URI; a
        one-line ValueError (``unsupported <noun> scheme ...``) for another scheme."""
        if "://" not in text:
            return cls(os.path.abspath(os.path.expanduser(text)))
        scheme = text.split("://", 1)[0]
        if scheme not in SCHEMES:
            raise ValueError(f"unsupported {noun} scheme {scheme!r} in {text}; use a local path "
                             f"or {URI_FORMS}")
        root = text.rstrip("/")
        return cls(root if "://" in root else text)

    @property
    def is_local(self) -> bool:
        """Whether this is a local folder (not a URI)."""
        return "://" not in self.root

    @property
    def local_path(self) -> Path:
        """The local folder; a ValueError for a URI."""
        if not self.is_local:
            raise ValueError(f"{self.root} is a URI, not a local folder")
        return Path(self.root)

    def experiment(self, name: str) -> str:
        """Experiment `name`'s folder: an absolute local path or a URI."""
        return f"{self.root.rstrip('/')}/{name}"

    def filesystem(self) -> tuple[Any, str]:
        """pyarrow's filesystem and the root's path on it (OSError or ValueError where a URI's
        filesystem cannot be opened)."""
        import pyarrow.fs

        if self.is_local:
            return pyarrow.fs.LocalFileSystem(), self.root
        fs, path = pyarrow.fs.FileSystem.from_uri(self.root)
        return fs, path.rstrip("/")

    def exists(self, name: str) -> bool:
        """Whether experiment `name` (or any file or folder of that name) exists."""
        if self.is_local:
            return (Path(self.root) / name).exists()
        import pyarrow.fs

        fs, root = self.filesystem()
        return fs.get_file_info(f"{root}/{name}").type != pyarrow.fs.FileType.NotFound

    def read_text(self, relative: str) -> str:
        """The text of file `relative` (``<name>/grid_spec.json``); OSError where unreadable."""
        fs, root = self.filesystem()
        with fs.open_input_stream(f"{root}/{relative}") as f:
            return f.read().decode()

    def write_text(self, relative: str, text: str) -> None:
        """Writes file `relative` (its folder must exist, as Tune's experiment folder does)."""
        fs, root = self.filesystem()
        with fs.open_output_stream(f"{root}/{relative}") as f:
            f.write(text.encode())

    def trial_configs(self, name: str) -> list[dict[str, Any]]:
        """The trial configs (``params.json``) of experiment `name`, as far as they are
        readable; an unreadable one is left out (the analysis reports it)."""
        import pyarrow.fs

        fs, root = self.filesystem()
        selector = pyarrow.fs.FileSelector(f"{root}/{name}", allow_not_found=True)
        configs = []
        for entry in fs.get_file_info(selector):
            if entry.type != pyarrow.fs.FileType.Directory:
                continue
            try:
                with fs.open_input_stream(f"{entry.path}/params.json") as f:
                    config = json.loads(f.read())
            except (OSError, ValueError):
                continue
            if isinstance(config, dict) and {"model", "seed"} <= set(config):
                configs.append(config)
        return configs
