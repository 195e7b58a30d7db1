"""Root conftest: executes every Python code block in docs/*.md and README.md.

A block runs as written, in one namespace per document (blocks of a page
share names, top to bottom). A block that must not run in-process (it needs
real signals or a server) is marked with an HTML comment on the line above:
``<!-- run: subprocess -->``; it still runs, in a fresh Python child process,
and must exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser

ROOT = Path(__file__).parent

_MARKER = "<!-- run: subprocess -->"


def _evaluate(example: Example) -> None:
    source = example.parsed
    before = example.document.text[: example.start].rstrip().splitlines()
    if before and before[-1].strip() == _MARKER:
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(source)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"snippet at line {example.line} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return
    code = compile(source, example.path, "exec", dont_inherit=True)
    exec(code, example.namespace)


def _setup(namespace: dict[str, Any]) -> None:
    namespace["__name__"] = "__docs__"


pytest_collect_file = Sybil(
    parsers=[CodeBlockParser(language="python", evaluator=_evaluate)],
    patterns=["*.md"],
    path=str(ROOT),
    setup=_setup,
    excludes=["CHANGELOG.md"],
).pytest()
