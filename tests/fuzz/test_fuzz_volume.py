"""The volume fuzzer (:mod:`engine`): every target briefly in the normal suite; with
``PCAPTLS_FUZZ_INPUTS`` set (``make fuzz`` sets it), that many inputs across all targets on
``PCAPTLS_FUZZ_JOBS`` processes, with the counts printed at the end of the run."""

from __future__ import annotations

import os
import time

import pytest

from tests.fuzz import engine

QUICK = int(os.environ.get("PCAPTLS_FUZZ_QUICK", "300"))
VOLUME = int(os.environ.get("PCAPTLS_FUZZ_INPUTS", "0"))
JOBS = int(os.environ.get("PCAPTLS_FUZZ_JOBS", str(os.cpu_count() or 1)))


@pytest.mark.parametrize("target", sorted(engine.TARGETS))
def test_target_briefly(target: str) -> None:
    r = engine.run_target(target, QUICK, seed=7)
    assert r.inputs == QUICK
    assert not r.findings, "\n".join(r.findings)


@pytest.mark.skipif(not VOLUME, reason="set PCAPTLS_FUZZ_INPUTS (make fuzz) for the long run")
def test_volume() -> None:
    t = time.monotonic()
    results = engine.run_all(VOLUME, JOBS, seed=int(os.environ.get("PCAPTLS_FUZZ_SEED", "1")))
    text = engine.report(results, time.monotonic() - t)
    engine.REPORTS.append(f"fuzz volume run, {JOBS} processes:\n{text}")
    assert sum(r.inputs for r in results) >= VOLUME * 0.99
    assert not any(r.findings for r in results), text
