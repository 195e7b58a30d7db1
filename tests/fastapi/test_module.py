"""haraka_di.fastapi is opt-in: importing haraka_di never pulls in the web stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import haraka_di.fastapi

ROOT = Path(__file__).parents[2]

CHECK = """
import sys
import haraka_di
import haraka_di.testing
web = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'uvicorn'))
private = sorted(m for m in ('haraka_di._health', 'haraka_di._uvicorn') if m in sys.modules)
print(web, private)
assert not web and not private, (web, private)
import haraka_di.fastapi
assert 'uvicorn' in sys.modules and 'haraka_di._uvicorn' in sys.modules
"""


def test_importing_haraka_di_imports_no_web_framework() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


def test_the_private_modules_are_imported_only_by_the_public_one() -> None:
    imports = re.compile(r"^\s*(from|import)\s+(haraka_di)?\.*_(uvicorn|health)\b", re.M)
    importers = sorted(
        path.name for path in (ROOT / "haraka_di").glob("*.py") if imports.search(path.read_text())
    )
    assert importers == ["fastapi.py"]


def test_the_public_names() -> None:
    assert sorted(haraka_di.fastapi.__all__) == [
        "LAST",
        "ReadinessGate",
        "UvicornService",
        "health_router",
        "install_readiness_gate",
        "lifespan",
        "provide",
    ]
    for name in haraka_di.fastapi.__all__:
        assert getattr(haraka_di.fastapi, name) is not None
