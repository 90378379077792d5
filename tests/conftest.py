"""Shared fixtures: the public corpus beside the checkout, tshark, real handshakes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.paths import CAPTURES, CORPUS, ROOT, corpus_files  # noqa: F401

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


