"""Guards for the executed documentation: no Python block can escape Sybil."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[^`\s]*)", re.MULTILINE)
MARKER = re.compile(r"^<!--\s*run:\s*(?P<mode>[\w-]+)\s*-->\s*$", re.MULTILINE)
PYTHON_LIKE = re.compile(r"^(py|python\d*|pycon|ipython\d*|python-?repl)$", re.IGNORECASE)

MY_PAGES = [
    "index.md",
    "getting-started.md",
    "services-and-containers.md",
    "ordering.md",
    "readiness.md",
    "signals-and-shutdown.md",
    "timeouts-and-failures.md",
    "testing.md",
    "api-reference.md",
]


def opening_fences(text: str) -> list[tuple[int, str, str]]:
    """(line, indent, language) of every opening fence."""
    found, inside = [], False
    for match in FENCE.finditer(text):
        if not inside:
            line = text.count("\n", 0, match.start()) + 1
            found.append((line, match.group("indent"), match.group("lang")))
        inside = not inside
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_are_fenced_so_that_they_run(page: Path) -> None:
    text = page.read_text()
    for line, indent, lang in opening_fences(text):
        where = f"{page.name}:{line}"
        assert not (PYTHON_LIKE.match(lang) and lang != "python"), (
            f"{where}: ```{lang} is not executed; use ```python (or ```text for output)"
        )
        assert not (lang == "python" and indent), f"{where}: an indented ```python is not run"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_run_markers_are_known_and_precede_a_python_block(page: Path) -> None:
    text = page.read_text()
    for match in MARKER.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        assert match.group("mode") in ("subprocess", "pytest"), f"{page.name}:{line}"
        after = text[match.end() :].lstrip("\n")
        assert after.startswith("```python\n"), (
            f"{page.name}:{line}: a run marker must be directly followed by a ```python block"
        )


def test_the_guide_has_its_pages_and_the_index_links_every_page() -> None:
    docs = ROOT / "docs"
    index = (docs / "index.md").read_text()
    for name in MY_PAGES:
        assert (docs / name).is_file(), name
    linked = set(re.findall(r"\]\(([\w-]+\.md)(?:#[\w-]+)?\)", index))
    missing = {p.name for p in docs.glob("*.md")} - linked - {"index.md"}
    assert not missing, f"docs/index.md does not link {sorted(missing)}"
    for required in (
        "fastapi.md",
        "deploy-kubernetes.md",
        "deploy-systemd.md",
        "cli-and-configuration.md",
        "failures.md",
        "performance.md",
    ):
        assert required in linked, required


def test_the_ordering_page_draws_the_waves() -> None:
    text = (ROOT / "docs" / "ordering.md").read_text()
    assert "```mermaid\nflowchart" in text
    for wave in range(4):
        assert f'w{wave}["wave {wave}' in text
