"""spill: results wait in sorted runs on disk and come back in order, whatever their number."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import pytest

from pcaptls.pipeline import spill
from pcaptls.pipeline.spill import Runs, SpillError

# Engine-specific: each test runs on the Rust core and on the Python reference.
pytestmark = pytest.mark.engines


def _key(item: tuple[float, int, str]) -> tuple[float, int]:
    return (item[0], item[1])


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "RUN_ITEMS", 7)
    monkeypatch.setattr(spill, "CHUNK", 3)
    monkeypatch.setattr(spill, "MAX_RUNS", 4)


@pytest.mark.parametrize("count", [0, 1, 6, 7, 8, 50, 333])
def test_runs_come_back_sorted(count: int, tmp_path: Path, small: None) -> None:
    rng = random.Random(count)
    items = [(rng.choice((1.0, 2.5, 3.0)), frame, f"line {frame}") for frame in rng.sample(range(10 * count + 1), count)]
    runs = Runs(_key, str(tmp_path))
    for item in items:
        runs.add(item)
        assert len(runs.items) < spill.RUN_ITEMS  # never more than a run's worth in memory
        assert all(len(level) < spill.MAX_RUNS for level in runs.levels)  # merged before they pile up
    assert len(runs.files) == len(os.listdir(tmp_path))  # merged runs' files are gone
    assert bool(runs.files) == (count >= spill.RUN_ITEMS)
    assert list(runs) == sorted(items, key=_key)
    assert list(runs) == sorted(items, key=_key)  # again: the files are read afresh
    # A worker hands its runs to the parent: names and what is in memory cross, not the lines.
    assert list(pickle.loads(pickle.dumps(runs))) == sorted(items, key=_key)


def test_each_item_is_rewritten_once_per_level(tmp_path: Path, small: None) -> None:
    """Merging by levels: writes grow as n log n, not n squared (merging everything into one
    run each time MAX_RUNS piled up rewrote all earlier items at every merge)."""
    import math

    runs = Runs(_key, str(tmp_path))
    n = 20_000
    for k in range(n):
        runs.add((float(k % 97), k, ""))
    levels = math.ceil(math.log(n / spill.RUN_ITEMS, spill.MAX_RUNS))
    assert len(runs.levels) == levels
    assert runs.written <= n * (levels + 1)
    assert len(runs.files) <= (spill.MAX_RUNS - 1) * levels
    assert [i[1] for i in runs] == sorted(range(n), key=lambda k: (k % 97, k))


def test_without_a_folder_everything_stays_in_memory(small: None) -> None:
    runs = Runs(_key, None)
    for k in range(100):
        runs.add((float(-k), k, "x"))
    assert runs.files == [] and len(runs.items) == 100
    assert [i[1] for i in runs] == list(range(99, -1, -1))


def test_merged_streams(tmp_path: Path, small: None) -> None:
    a, b = Runs(_key, str(tmp_path)), Runs(_key, str(tmp_path))
    for k in range(40):
        (a if k % 3 else b).add((float(k // 2), k, ""))
    m = spill.Merged([a, b, [(0.5, 100, "")]], _key)
    assert [i[1] for i in m] == [i[1] for i in m] == [0, 1, 100, *range(2, 40)]


def test_unwritable_folder_is_one_clear_error(tmp_path: Path, small: None) -> None:
    runs = Runs(_key, str(tmp_path / "gone"))
    with pytest.raises(SpillError, match=r"cannot write waiting results to .*gone: No such file"):
        for k in range(10):
            runs.add((0.0, k, ""))


def test_folder_is_private_and_removed() -> None:
    with spill.folder() as where:
        assert os.stat(where).st_mode & 0o777 == 0o700
        Path(where, "run").write_bytes(b"x")
    assert not os.path.exists(where)


def test_no_temporary_directory_keeps_results_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only or missing $TMPDIR does not stop inspect: what would be spilled stays in memory."""
    import tempfile

    from click.testing import CliRunner

    from pcaptls.cli import main
    from tests.helpers.paths import CAPTURES

    path = str(CAPTURES / "mra-login" / "capture.pcap")
    expected = CliRunner().invoke(main, ["inspect", path, "--format", "jsonl"])

    def no_tmp(*a: object, **k: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", no_tmp)
    monkeypatch.setattr(spill, "RUN_ITEMS", 2)
    with spill.folder() as where:
        assert where is None
    r = CliRunner().invoke(main, ["inspect", path, "--format", "jsonl"])
    assert (r.exit_code, r.stdout) == (expected.exit_code, expected.stdout) and expected.stdout.count("\n") == 9
