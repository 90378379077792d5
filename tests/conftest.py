"""Shared fixtures: the public corpus beside the checkout, tshark, real handshakes."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

CORPUS = Path(os.environ.get("PCAPTLS_CORPUS", ROOT.parent / "shared" / "corpus"))
CAPTURES = ROOT / "captures"

settings.register_profile("default", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", deadline=None, max_examples=50_000, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# Tests marked ``engines`` run once per engine (the Rust core and the Python reference); the
# rest run on the default engine (Rust when it is built, as for a user).
try:
    from pcaptls.pipeline.engines import rust_available

    ENGINES = ["rust", "python"] if rust_available() else ["python"]
except ImportError:  # pragma: no cover - pcaptls itself not importable: the suite fails anyway
    ENGINES = ["python"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("engines"):
        if "engine" not in metafunc.fixturenames:
            metafunc.fixturenames.append("engine")
        metafunc.parametrize("engine", ENGINES)


@pytest.fixture(autouse=True)
def _engine_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine of an ``engines`` test's parameter, or the Python reference for a
    ``reference`` test (one that patches the reference's internals), through the environment
    (subprocesses and forked workers inherit it)."""
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("engine") if callspec is not None else None
    if name is None and request.node.get_closest_marker("reference"):
        name = "python"
    if name is not None:
        monkeypatch.setenv("PCAPTLS_ENGINE", name)


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng") or p.name.endswith((".pcap.gz", ".pcapng.gz")))


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip(f"public capture corpus not found at {CORPUS} (it sits beside the checkout as ../shared/corpus)")
    return files


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if not path:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    return path


def require_corpus_file(name: str) -> Path:
    p = CORPUS / name
    if not p.exists():
        pytest.skip(f"{name} not in the corpus at {CORPUS}")
    return p
