"""The front page and the documentation site: the README stays a front page whose links
resolve, and `mkdocs build --strict` passes (a broken link, anchor or nav entry, or a
docstring the API reference cannot read, is an error)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site)],
        cwd=config.parent, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # Material's banner about MkDocs 2


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_site_builds_strictly_with_the_api_reference(tmp_path):
    run = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert run.returncode == 0, run.stdout + run.stderr
    reference = {page: (tmp_path / "site/reference" / page / "index.html").read_text()
                 for page in ("envs", "models", "training", "analysis")}
    for page, names in {
        "envs": ["rllib_iam.envs", "rllib_iam.envs.spec.EnvSpec",
                 "rllib_iam.envs.registry.spec_for"],
        "models": ["rllib_iam.models.register", "rllib_iam.models.module_spec",
                   "rllib_iam.models.base.ZooModule"],
        "training": ["rllib_iam.training.ppo_config", "rllib_iam.training.PaperPPO"],
        "analysis": ["analysis.load.load_runs", "analysis.stats.table",
                     "analysis.figure5.write_report", "analysis.export.export"],
    }.items():
        for name in names:
            assert f'id="{name}"' in reference[page], (page, name)


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """Inside docs/ MkDocs checks the links; a link out of docs/ is the hook's to check."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "present.txt").write_text("here\n")
    (docs / "index.md").write_text(
        "# Home\n\n[a file](../present.txt), [gone](../absent.txt), [a page](page.md)\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(f"site_name: t\nhooks:\n  - {ROOT / 'docs/hooks/repository_links.py'}\n")
    run = mkdocs_build(config, tmp_path / "site")
    assert run.returncode == 1
    assert "'page.md', but the target is not found" in run.stderr, run.stderr
    assert "'../absent.txt', which is not in the repository" in run.stderr, run.stderr
    assert "present.txt" not in run.stderr


def test_the_readme_is_a_front_page_whose_links_resolve():
    """GitHub renders the README, not MkDocs: its links to files and to headings of the docs
    are checked here."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200, "the README is a front page: detail goes in docs/"
    assert text.count("```python") == 1  # the example test_docs.py runs
    targets = [t for t in LINK.findall(text) if not re.match(r"https?:", t)]
    assert len(targets) > 20
    own = {github_anchor(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}
    for target in targets:
        path, _, anchor = target.partition("#")
        if not path:
            assert anchor in own, target
            continue
        assert (ROOT / path).exists(), target
        if anchor:
            headings = re.findall(r"^#+ (.*)$", (ROOT / path).read_text(), flags=re.M)
            assert anchor in {github_anchor(h) for h in headings}, target
