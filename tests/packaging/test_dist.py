"""The distributions: ``python -m build`` makes an sdist and a wheel that
hold what they must, and the wheel installs and imports in a fresh venv.

``python -m build`` (no ``--sdist``/``--wheel``) builds the sdist, then the
wheel *from the unpacked sdist*: the wheel installed below is therefore the
proof that the sdist builds and installs too.

It builds from a copy of the checkout without its build state: setuptools
reuses a ``haraka_di.egg-info/SOURCES.txt`` left in the source tree (an
editable install writes one), so a build of the checkout itself could ship
files that MANIFEST.in no longer asks for, and hide a missing one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
# Build state, environments and caches: not part of a fresh checkout.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "*.egg-info", "build", "dist", "__pycache__", ".*_cache", ".hypothesis"
)


def _clean_env() -> dict[str, str]:
    """This process's environment without what would let a child import
    haraka_di from the checkout or from this test run's venv."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(args: list[str | Path], cwd: Path) -> str:
    """Run ``args``; its stdout, then its stderr (build reports on both)."""
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(sdist, wheel, build's output), built once into a temp dir."""
    source = tmp_path_factory.mktemp("checkout") / "haraka_di"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    out = tmp_path_factory.mktemp("dist")
    log = _run([sys.executable, "-m", "build", "--outdir", out, source], cwd=out)
    (sdist,) = out.glob("haraka_di-*.tar.gz")
    (wheel,) = out.glob("haraka_di-*-py3-none-any.whl")
    return sdist, wheel, log


def test_the_wheel_is_built_from_the_sdist(dists: tuple[Path, Path, str]) -> None:
    *_, log = dists
    assert "Building wheel from sdist" in log, log


def test_the_sdist_holds_the_readme_the_docs_and_py_typed(dists: tuple[Path, Path, str]) -> None:
    sdist, _, _ = dists
    with tarfile.open(sdist) as archive:
        top, _, _ = archive.getnames()[0].partition("/")
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "haraka_di/py.typed"} <= names
    assert DOCS and {f"docs/{page}" for page in DOCS} <= names, sorted(names)
    assert {"haraka_di/fastapi/__init__.py", "haraka_di/cli/__init__.py"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert top == sdist.name.removesuffix(".tar.gz")


def test_the_wheel_holds_the_subpackages_and_py_typed(dists: tuple[Path, Path, str]) -> None:
    _, wheel, _ = dists
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for package in ("haraka_di", "haraka_di/fastapi", "haraka_di/cli"):
        assert f"{package}/__init__.py" in names, sorted(names)
    assert "haraka_di/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    assert "haraka = haraka_di.cli:main" in scripts
    assert not [n for n in names if n.startswith(("tests/", "containers/", "docs/"))]


def test_the_wheel_installs_and_imports_in_a_fresh_venv(
    dists: tuple[Path, Path, str], tmp_path: Path
) -> None:
    _, wheel, _ = dists
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    # The dependencies come from the configured index, as for a user.
    _run([python, "-m", "pip", "install", "-q", f"{wheel}[fastapi]"], cwd=tmp_path)
    where = _run(
        [
            python,
            "-c",
            "import haraka_di, haraka_di.cli, haraka_di.fastapi; "
            "from haraka_di import Orchestrator; from haraka_di.fastapi import UvicornService; "
            "print(haraka_di.__file__)",
        ],
        cwd=tmp_path,  # not the checkout: `python -c` puts the cwd on sys.path
    )
    installed = Path(where.strip().splitlines()[0])
    assert installed.is_relative_to(venv), installed  # not the checkout's copy
    assert (installed.parent / "py.typed").is_file()
    usage = _run([venv / "bin" / "haraka", "--help"], cwd=tmp_path)
    assert "run" in usage and "check" in usage, usage
