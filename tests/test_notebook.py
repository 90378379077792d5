"""The troubleshooting notebook runs top to bottom on the shipped MRA capture and draws its plot.

It runs in a kernel on this interpreter (``notebooks/execute.py`` writes a temporary kernelspec
pointing at ``sys.executable``), in ``notebooks/`` as Jupyter would run it; the file is read, never
written back. The shipped notebook must also carry its outputs, the plot among
them: readers see it without running anything.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

# The notebook tools come with the "test" extra; where they are missing these tests are skipped.
nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = NOTEBOOKS / "mra_troubleshooting.ipynb"
MAX_BYTES = 300_000


def _execute_module():  # type: ignore[no-untyped-def]
    pytest.importorskip("jupyter_client")  # execute.py runs the notebook in a Jupyter kernel
    spec = importlib.util.spec_from_file_location("notebook_execute", NOTEBOOKS / "execute.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _outputs(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _pngs(nb: nbformat.NotebookNode) -> list[str]:
    return [o["data"]["image/png"] for o in _outputs(nb) if "image/png" in o.get("data", {})]


@pytest.mark.slow
def test_notebook_runs_on_the_shipped_capture() -> None:
    t0 = time.monotonic()
    ran = _execute_module().execute(NOTEBOOK, timeout=120)  # read and run, never written back
    took = time.monotonic() - t0
    errors = [o for o in _outputs(ran) if o.output_type == "error"]
    assert not errors, [f"{o.ename}: {o.evalue}" for o in errors]
    assert all(c.get("execution_count") for c in ran.cells if c.cell_type == "code")
    assert _pngs(ran), "no image/png output: the timeline was not drawn"
    text = "".join(o.get("text", "") for o in _outputs(ran) if o.output_type == "stream")
    manifest = json.loads((ROOT / "captures" / "mra-login" / "manifest.json").read_text())
    offset = manifest["log_clock_offset_seconds"]
    assert f"clock offset (log minus capture): {offset:+.3f} s" in text
    failed = Counter(f"{c['server']['ip']}:{c['server']['port']}" for c in manifest["connections"]
                     if c["outcome"] != "ok")
    assert failed
    for server, n in failed.items():
        assert f"{server}  ({n} failed)" in text
    assert text.count("  why:   ") == len(failed)  # one finding per failing server here
    assert took < 100, f"the notebook took {took:.0f}s"


@pytest.mark.slow
def test_notebook_reads_a_diagnostic_bundle(tmp_path: Path) -> None:
    """As its first cell says: a diagnostic bundle serves as the log and as the trust store."""
    bundle = ROOT / "captures" / "mra-login" / "diagnostic_bundle.tar.gz"
    if not bundle.exists():
        pytest.skip("no diagnostic bundle shipped")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for line in ("ROOT = repo_root()", '"expressway.log"', '"truststore.pem"'):
        assert line in params.source, line
    root = f"ROOT = repo_root(Path({str(ROOT)!r}))"
    params.source = (params.source.replace("ROOT = repo_root()", root)
                     .replace('"expressway.log"', '"diagnostic_bundle.tar.gz"')
                     .replace('"truststore.pem"', '"diagnostic_bundle.tar.gz"'))
    copy = tmp_path / NOTEBOOK.name
    nbformat.write(nb, copy)
    ran = _execute_module().execute(copy, timeout=120)
    text = "".join(o.get("text", "") for o in _outputs(ran) if o.output_type == "stream")
    assert "trust store: Expressway trust store ca_vcsc_" in text
    assert "log:         captures/mra-login/diagnostic_bundle.tar.gz: " in text
    assert "(3 failed)" in text and _pngs(ran)


def test_notebook_runs_from_the_root_and_from_notebooks() -> None:
    """The parameters cell finds the checkout from notebooks/ and from the root."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for start in (ROOT, NOTEBOOKS):
        scope: dict[str, object] = {}
        exec(params.source.replace("repo_root()", f"repo_root(Path({str(start)!r}))"), scope)
        assert scope["ROOT"] == ROOT
        for name in ("CAPTURE", "LOG", "TRUST_STORE"):
            assert Path(scope[name]).is_file(), name  # type: ignore[arg-type]


def test_shipped_notebook_carries_its_plot() -> None:
    size = NOTEBOOK.stat().st_size
    assert size < MAX_BYTES, f"{NOTEBOOK.name} is {size} bytes"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert _pngs(nb), "the saved notebook has no image/png output: run notebooks/execute.py --save"
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"saved from a partial run: {counts}"
    assert str(ROOT) not in nbformat.writes(nb), "saved outputs name this machine's checkout path"
