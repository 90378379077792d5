"""What the compare_* scripts share: building a feed example, and reading its output back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CORE = Path(__file__).resolve().parents[1]


def build_example(name: str) -> Path:
    """``cargo build --release --example NAME`` of pcaptls-core; the binary's path."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", CORE.parent / "target"))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pcaptls-core", "--example", name],
                   cwd=CORE, check=True)
    return target / "release" / "examples" / name


def split_cases(lines: list[str]) -> list[list[str]]:
    """A feed's output, one list of lines per case (each case starts with a line ``C``)."""
    cases: list[list[str]] = []
    for line in lines:
        if line == "C":
            cases.append([])
        elif cases:
            cases[-1].append(line)
    return cases
