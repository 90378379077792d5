"""The README tells a newcomer how to run pcaptls, and its examples are what the commands print."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_examples_match_what_the_commands_print_on_the_lab_captures() -> None:
    """tools/readme_examples.py runs every `$ pcaptls ...` example of the README on the current lab
    captures and compares (after `captures/lab.py` records them again, run it without --check)."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_examples.py"), "--check"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
    assert len(re.findall(r"^```\n\$ pcaptls ", README, re.M)) >= 6


def test_says_how_to_run_pcaptls_after_make_demo() -> None:
    assert ".venv/bin/pcaptls" in README and "source .venv/bin/activate" in README and "pip install ." in README
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo_install = re.search(r"^\$\(STAMP\):.*?\n\n", makefile, re.M | re.S)
    assert demo_install and "pip install -q -e .\n" in demo_install.group(0) and "[test]" not in demo_install.group(0)
    assert re.search(r"^pytest: test-venv", makefile, re.M)  # the test extras come with make test only


def test_der_documented_as_it_behaves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--der writes single certificates as DER instead of PEM; chain bundles stay PEM."""
    assert "each is written as DER instead, `.der`, and no PEM" in README
    cap = ROOT / "captures" / "mra-login" / "capture.pcap"
    r = subprocess.run([sys.executable, "-m", "pcaptls", "certs", str(cap), "--export", str(tmp_path), "--der"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr  # the capture holds failed handshakes: exit 1, as every command
    names = [p.name for p in tmp_path.iterdir()]
    singles = [n for n in names if not n.startswith("chain_")]
    assert singles and all(n.endswith(".der") for n in singles)
    assert all(n.endswith(".pem") for n in names if n.startswith("chain_"))
