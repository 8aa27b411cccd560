"""`Storage`: a local folder or a URI, its scheme checked in one place for the whole tree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rllib_iam.storage import SCHEMES, Storage

ROOT = Path(__file__).resolve().parent.parent


def test_a_local_path_is_made_absolute_and_a_uri_kept():
    local = Storage.parse("runs")
    assert local.is_local and local.root == str(Path("runs").resolve())
    assert Storage.parse("~/runs").root == str(Path.home() / "runs")
    for scheme in SCHEMES:
        cloud = Storage.parse(f"{scheme}://bucket/iam/")
        assert not cloud.is_local and cloud.root == f"{scheme}://bucket/iam"
        assert cloud.experiment("blog") == f"{scheme}://bucket/iam/blog"
    with pytest.raises(ValueError, match="is a URI, not a local folder"):
        _ = Storage.parse("s3://bucket").local_path


def test_another_scheme_is_refused_in_one_line_naming_the_valid_ones():
    with pytest.raises(ValueError) as err:
        Storage.parse("ftp://host/runs")
    assert str(err.value) == ("unsupported storage URI scheme 'ftp' in ftp://host/runs; use a "
                              "local path or s3://, gs://, gcs:// or file://")
    with pytest.raises(ValueError, match=r"^unsupported URI scheme 'ftp'"):
        Storage.parse("ftp://host/runs", noun="URI")


@pytest.mark.parametrize("uri", [False, True])
def test_experiments_are_found_read_and_written_locally_and_through_a_uri(tmp_path, uri):
    storage = Storage.parse(f"file://{tmp_path}" if uri else str(tmp_path))
    assert not storage.exists("grid")
    (tmp_path / "grid" / "iam_seed0").mkdir(parents=True)
    (tmp_path / "grid" / "iam_seed0" / "params.json").write_text('{"model": "iam", "seed": 0}')
    (tmp_path / "grid" / "broken").mkdir()
    (tmp_path / "grid" / "broken" / "params.json").write_text("{")
    assert storage.exists("grid")
    storage.write_text("grid/note.json", json.dumps({"a": 1}))
    assert json.loads(storage.read_text("grid/note.json")) == {"a": 1}
    assert storage.trial_configs("grid") == [{"model": "iam", "seed": 0}]
    assert storage.trial_configs("missing") == []
    with pytest.raises(OSError):
        storage.read_text("grid/none.json")


def test_nothing_else_in_the_tree_tells_a_uri_from_a_path():
    """`"://"` is sniffed only in rllib_iam/storage.py: one list of schemes for the grid, the
    search, --status, the trackers and the analysis."""
    sniffing = re.compile(r"""["']://["']""")
    for folder in ("rllib_iam", "analysis", "experiments"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "storage.py":
                assert not sniffing.search(path.read_text()), path
