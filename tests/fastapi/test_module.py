"""haraka_di.fastapi is opt-in: importing haraka_di never pulls in the web stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import haraka_di
import haraka_di.fastapi

ROOT = Path(__file__).parents[2]

CHECK = """
import sys
import haraka_di
import haraka_di.testing
web = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn'))
ours = sorted(m for m in sys.modules if m.startswith('haraka_di.fastapi'))
print(web, ours)
assert not web and not ours, (web, ours)
import haraka_di.fastapi
assert 'uvicorn' in sys.modules and 'haraka_di.fastapi._uvicorn' in sys.modules
"""


def test_importing_haraka_di_imports_no_web_framework() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


def test_the_core_never_imports_the_integration() -> None:
    # Integrations depend on the core, never the reverse: no module outside
    # haraka_di/fastapi/ imports it, nor FastAPI, Starlette or uvicorn.
    imports = re.compile(
        r"^\s*(from|import)\s+(haraka_di\.fastapi|\.+fastapi|fastapi|starlette|uvicorn)\b", re.M
    )
    package = ROOT / "haraka_di"
    importers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.parent.name != "fastapi" and imports.search(path.read_text())
    )
    assert importers == []


def test_the_private_modules_are_imported_only_inside_the_package() -> None:
    imports = re.compile(r"^\s*(from|import)\s+\S*\b_(uvicorn|health|lifespan|provide)\b", re.M)
    package = ROOT / "haraka_di" / "fastapi"
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "haraka_di").rglob("*.py")
        if imports.search(path.read_text()) and package not in path.parents
    )
    assert importers == []


def test_the_public_names() -> None:
    assert sorted(haraka_di.fastapi.__all__) == [
        "LAST",
        "ReadinessGate",
        "ServeError",
        "UvicornService",
        "health_router",
        "install_readiness_gate",
        "lifespan",
        "provide",
    ]
    for name in haraka_di.fastapi.__all__:
        assert getattr(haraka_di.fastapi, name) is not None


def test_each_public_name_says_it_comes_from_haraka_di_fastapi() -> None:
    # as tracebacks, reprs and the docs show it; a name the top package also
    # exports (ServeError) keeps haraka_di, and LAST is an int constant
    for name in haraka_di.fastapi.__all__:
        value = getattr(haraka_di.fastapi, name)
        if name == "LAST":
            assert isinstance(value, int)
            continue
        expected = "haraka_di" if name in haraka_di.__all__ else "haraka_di.fastapi"
        assert value.__module__ == expected, name
    assert haraka_di.fastapi.ServeError is haraka_di.ServeError
