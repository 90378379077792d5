"""Regenerate the README's command examples from the current lab captures, or check them.

Every fenced block in README.md whose first line is ``$ pcaptls ...`` is an example: the command
is run (from a scratch folder in which ``captures`` is the project's, so files it writes land
there; output to a pipe, so tables are whole) and the block's other lines become what it printed
(standard output, then standard error). ``| head -n N`` after the command keeps the first N lines.

    python tools/readme_examples.py          # rewrite README.md
    python tools/readme_examples.py --check  # exit 1 and show the difference if it is stale

tests/test_readme.py runs the check: after the lab captures are recorded again (new keys, new
times), run this script and commit README.md.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```\n(\$ pcaptls [^\n]*)\n(.*?)^```$", re.M | re.S)
_HEAD = re.compile(r"\s*\|\s*head -n (\d+)\s*$")


def output_of(command: str, scratch: Path) -> str:
    """What ``command`` (a README ``$ pcaptls ...`` line, without the ``$ ``) prints."""
    keep = None
    m = _HEAD.search(command)
    if m:
        keep, command = int(m.group(1)), command[: m.start()]
    args = shlex.split(command)[1:]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PCAPTLS_ENGINE")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    r = subprocess.run([sys.executable, "-m", "pcaptls", *args], cwd=scratch, env=env, capture_output=True,
                       text=True, timeout=600)
    lines = (r.stdout + r.stderr).splitlines()
    return "\n".join(lines[:keep] if keep is not None else lines) + "\n"


def regenerated(text: str) -> str:
    """``text`` (README.md) with every example's output made again."""
    with tempfile.TemporaryDirectory(prefix="pcaptls-readme-") as tmp:
        scratch = Path(tmp)
        (scratch / "captures").symlink_to(ROOT / "captures")
        return _BLOCK.sub(lambda m: f"```\n{m.group(1)}\n{output_of(m.group(1)[2:], scratch)}```", text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare only; exit 1 when README.md is stale")
    args = ap.parse_args()
    old = README.read_text(encoding="utf-8")
    new = regenerated(old)
    if args.check:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "README.md",
                                                       "README.md (regenerated)"))
            print("README.md's examples are stale: run python tools/readme_examples.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"{README}: {len(_BLOCK.findall(old))} examples regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
