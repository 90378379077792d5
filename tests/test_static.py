"""Static checks as part of the suite: the type hints hold (mypy, settings in setup.cfg) and no
name is undefined, unused or shadowed by mistake (ruff's pyflakes rules)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_types() -> None:
    r = _run("mypy", "pcaptls")
    assert r.returncode == 0, r.stdout + r.stderr


def test_names() -> None:
    r = _run("ruff", "check", "--select", "F,E9", "--output-format", "concise", "pcaptls", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr
