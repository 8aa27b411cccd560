"""MkDocs hook: links from the docs to files outside docs/ (results/, cluster/, the code).

The pages are also read on GitHub, where ``[results/warehouse-blog/](../results/...)`` opens the
file; the site holds only docs/, so MkDocs would report each such link as not found. Here a
link to a file of the repository outside docs/ becomes its text on the site (an image is
copied into the site instead), and a link to a file the repository does not have is reported
as a warning, which ``mkdocs build --strict`` turns into an error.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import get_plugin_logger
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = get_plugin_logger("repository_links")

LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)
COPIES = "repository"  # where copied images go in the site


def _root(config: MkDocsConfig) -> Path:
    """The repository: the folder of mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent


def _outside(config: MkDocsConfig, page_path: str, target: str) -> Path | None:
    """The repository file `target` names, when it is relative and outside docs/."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^[/#]", target):
        return None  # a URL, an absolute path or an anchor: MkDocs checks those
    docs = Path(config.docs_dir).resolve()
    path = (Path(page_path).parent / target.split("#")[0]).resolve()
    return None if path.is_relative_to(docs) else path


def _images(markdown: str, page_path: str, config: MkDocsConfig) -> list[Path]:
    return [path for bang, _, target in LINK.findall(FENCE.sub("", markdown)) if bang
            and (path := _outside(config, page_path, target)) is not None
            and path.is_relative_to(_root(config)) and path.is_file()]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = _root(config)
    for page in files.documentation_pages():
        for image in _images(Path(page.abs_src_path).read_text(), page.abs_src_path, config):
            uri = posixpath.join(COPIES, image.relative_to(root).as_posix())
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(image)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    root = _root(config)

    def replace(match: re.Match) -> str:
        bang, text, target = match.groups()
        path = _outside(config, page.file.abs_src_path, target)
        if path is None:
            return match.group(0)
        if not (path.is_relative_to(root) and path.exists()):
            log.warning(f"Doc file '{page.file.src_uri}' links to '{target}', which is not "
                        "in the repository.")
            return match.group(0)
        if bang:
            uri = posixpath.join(COPIES, path.relative_to(root).as_posix())
            return f"![{text}]({posixpath.relpath(uri, posixpath.dirname(page.file.src_uri))})"
        return text

    pieces, end = [], 0
    for fence in FENCE.finditer(markdown):
        pieces += [LINK.sub(replace, markdown[end:fence.start()]), fence.group(0)]
        end = fence.end()
    return "".join([*pieces, LINK.sub(replace, markdown[end:])])
