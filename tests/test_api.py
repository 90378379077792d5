"""pcaptls.connections / timeline / findings: the commands' jsonl records as typed DataFrames.

The oracle is the command itself: every frame is compared, row by row and key by key, with what
``pcaptls inspect|timeline|diagnose --format jsonl`` prints for the same lab files.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import pytest

import pcaptls
from pcaptls.api import CONNECTION_COLUMNS, PcaptlsWarning, connections_frame
from pcaptls.errors import InputError
from tests.helpers.paths import CAPTURES, ROOT

MRA = CAPTURES / "mra-login"
LAB = [MRA / "capture.pcap", *sorted(CAPTURES.glob("0*/capture.pcap"))]
TRUST = MRA / "truststore.pem"
BUNDLE = MRA / "diagnostic_bundle.tar.gz"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pcaptls.cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def jsonl(*args: str) -> list[dict[str, Any]]:
    r = cli(*args, "--format", "jsonl")
    assert r.returncode in (0, 1), r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def as_json(value: Any, z: str = "Z") -> Any:
    """A frame's cell as the jsonl writes it: times as ISO-8601 text, missing as None."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat(timespec="microseconds").replace("+00:00", z)
    if isinstance(value, (list, dict)):
        return value
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    return value.item() if hasattr(value, "item") else value


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def frame_records(df: pd.DataFrame, z: str = "Z") -> list[dict[str, Any]]:
    return [{k: as_json(v, z) for k, v in row.items()} for row in df.to_dict("records")]


def test_connections_are_the_inspect_jsonl_records_typed() -> None:
    paths = [str(p) for p in LAB]
    want = jsonl("inspect", *paths, "--trust-store", str(TRUST))
    df = pcaptls.connections(paths, trust_store=TRUST)
    assert list(df.columns) == CONNECTION_COLUMNS == list(want[0])  # jsonl's keys, its order, capture last
    assert len(df) == len(want) > 20
    for got, rec in zip(frame_records(df), want):
        for k in ("start", "end"):  # epoch seconds in the jsonl; a UTC datetime here, at the reports' microsecond
            assert got[k] == iso(rec[k])
        assert {k: v for k, v in got.items() if k not in ("start", "end")} == {
            k: v for k, v in rec.items() if k not in ("start", "end")}
    assert str(df["start"].dtype) == "datetime64[ns, UTC]" and str(df["start_utc"].dtype) == "datetime64[ns, UTC]"
    assert df["client_port"].dtype == "int64" and df["server_port"].dtype == "int64"
    assert str(df["cipher_id"].dtype) == "Int64" and str(df["certificate_request"].dtype) == "boolean"
    assert all(isinstance(x, list) for x in df["server_certs"]) and all(isinstance(x, list) for x in df["alerts"])
    failed = df[df["status"] == "failed"]
    assert set(failed["server_port"]) >= {6972, 443}
    assert (failed["verify"].map(lambda v: v and v["error"]) == "DEPTH_ZERO_SELF_SIGNED_CERT").any()


def test_empty_frame_has_every_column_typed() -> None:
    full = pcaptls.connections(MRA / "capture.pcap", trust_store=TRUST)
    empty = connections_frame([])
    assert len(empty) == 0 and list(empty.columns) == list(full.columns)
    assert dict(empty.dtypes) == dict(full.dtypes)


def test_bundle_gives_its_captures_and_trust_store() -> None:
    df = pcaptls.connections(BUNDLE)
    want = jsonl("inspect", str(MRA / "capture.pcap"), "--trust-store", str(TRUST))
    assert [v and v["error"] for v in df["verify"]] == [r["verify"] and r["verify"]["error"] for r in want]
    assert set(df["capture"]) == {f"eth0_diagnostic_logging_tcpdump00_vcsc_2026-11-27_11-19.pcap (in {BUNDLE})"}


def test_findings_are_the_diagnose_jsonl_records() -> None:
    want = jsonl("diagnose", str(BUNDLE))
    df = pcaptls.findings(BUNDLE)
    assert len(want) == 2 and frame_records(df) == want
    assert df["failed_connections"].dtype == "int64" and isinstance(df["fixes"][0], list)


def test_timeline_is_the_timeline_jsonl_rows() -> None:
    want = jsonl("timeline", str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"))
    df = pcaptls.timeline(MRA / "capture.pcap", logs=MRA / "expressway.log")
    assert str(df["time"].dtype) == "datetime64[ns, UTC]" and str(df["frame"].dtype) == "Int64"
    got = frame_records(df)  # ISO-8601 with Z, as every data output writes times
    # The jsonl writes "" for no text and None for no number; the frame's str columns hold "" too.
    assert len(got) == len(want) > 100 and got == want


def test_unreadable_capture_raises_or_warns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(InputError, match="not a pcap or pcapng capture"):
        pcaptls.connections([MRA / "capture.pcap", bad], trust_store=TRUST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = pcaptls.connections([MRA / "capture.pcap", bad], trust_store=TRUST, errors="warn")
    assert len(df) == 9 and any(issubclass(w.category, PcaptlsWarning) and "bad.pcap" in str(w.message) for w in caught)


def test_without_dask_imports_and_local_path_unchanged_and_scheduler_says_how_to_install() -> None:
    """dask and distributed made unimportable: the local command and the API work as before,
    ``--scheduler`` says how to install the extra (exit 2, one line)."""
    block = "import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
    local = cli("inspect", str(MRA / "capture.pcap"), "--format", "jsonl")
    r = subprocess.run([sys.executable, "-c", block + "from pcaptls.cli import main; main()", "inspect",
                        str(MRA / "capture.pcap"), "--format", "jsonl"], capture_output=True, text=True, cwd=ROOT)
    assert (r.returncode, r.stdout) == (local.returncode, local.stdout)
    r = subprocess.run([sys.executable, "-c", block + "from pcaptls.cli import main; main()", "inspect",
                        str(MRA / "capture.pcap"), "--scheduler", "tcp://127.0.0.1:9"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "pip install 'pcaptls[dask]'" in r.stderr
    r = subprocess.run([sys.executable, "-c", block + "import pcaptls; import pcaptls.dask"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 1 and "pip install 'pcaptls[dask]'" in r.stderr
    # Importing pcaptls (as the command does) loads neither pandas nor the API.
    r = subprocess.run([sys.executable, "-c", "import sys, pcaptls.cli; print('pandas' in sys.modules, "
                        "'pcaptls.api' in sys.modules)"], capture_output=True, text=True, cwd=ROOT)
    assert r.stdout.split() == ["False", "False"], r.stderr
