"""pcaptls on a real Dask cluster (a two-worker-process ``distributed.LocalCluster``) gives the
same bytes as one machine: ``inspect`` (jsonl, csv, table), ``diagnose`` and ``timeline`` with
``--scheduler``, and the ``pcaptls.dask`` frames against ``pcaptls.connections``/``findings``.

Skipped when the ``dask`` extra is not installed (``pip install 'pcaptls[dask]'``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("dask.dataframe")

import pandas as pd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import pcaptls  # noqa: E402
import pcaptls.dask  # noqa: E402
from tests.helpers import pcapgen  # noqa: E402
from tests.helpers.paths import CAPTURES, ROOT  # noqa: E402

MRA = CAPTURES / "mra-login"
LAB = [MRA / "capture.pcap", *sorted(CAPTURES.glob("0*/capture.pcap")), CAPTURES / "08-messy-network" / "midstream.pcap"]
TRUST = MRA / "truststore.pem"
BUNDLE = MRA / "diagnostic_bundle.tar.gz"


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    # Workers are new processes: they import pcaptls from this checkout, as this process does.
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      worker_dashboard_address=":0", env=env) as lc, Client(lc) as client:
        yield lc, client


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "pcaptls.cli", *args], capture_output=True, timeout=300, cwd=ROOT)


def same_as_local(address: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the command here and on the cluster: stdout, stderr and exit status byte for byte."""
    local = cli(*args)
    remote = cli(*args, "--scheduler", address)
    assert remote.stderr == local.stderr
    assert remote.stdout == local.stdout
    assert remote.returncode == local.returncode
    return remote


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
def test_inspect_lab_on_cluster_is_local_output(cluster, fmt: str) -> None:  # type: ignore[no-untyped-def]
    r = same_as_local(cluster[0].scheduler_address, "inspect", *map(str, LAB), "--trust-store", str(TRUST),
                      "--format", fmt)
    assert r.returncode == 1 and r.stdout.count(b"DEPTH_ZERO_SELF_SIGNED_CERT") >= 3


@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_diagnose_bundle_on_cluster_is_local_output(cluster, fmt: str) -> None:  # type: ignore[no-untyped-def]
    r = same_as_local(cluster[0].scheduler_address, "diagnose", str(BUNDLE), "--format", fmt)
    assert r.returncode == 1 and b"10.48.36.215:6972" in r.stdout


def test_timeline_and_env_address(cluster) -> None:  # type: ignore[no-untyped-def]
    """DASK_SCHEDULER_ADDRESS instead of --scheduler; proof it was used: a dead address fails."""
    args = ["timeline", str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"), "--format", "csv"]
    local = cli(*args)
    env = {**os.environ, "DASK_SCHEDULER_ADDRESS": cluster[0].scheduler_address}
    remote = subprocess.run([sys.executable, "-m", "pcaptls.cli", *args], capture_output=True, cwd=ROOT, env=env)
    assert (remote.returncode, remote.stdout, remote.stderr) == (local.returncode, local.stdout, local.stderr)
    env["DASK_SCHEDULER_ADDRESS"] = "tcp://127.0.0.1:9"
    dead = subprocess.run([sys.executable, "-m", "pcaptls.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**env, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"})
    assert dead.returncode == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in dead.stderr


@pytest.fixture(scope="module")
def forty(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """40 captures of real handshakes (an accepted chain, a self-signed ECDSA server refused,
    interleaved in time across captures), the 23rd replaced by garbage; and the trust store."""
    d = tmp_path_factory.mktemp("forty")
    good = pcapgen.make_chain(cn="cucm.example.com")
    bad = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    ok_wire, _ = pcapgen.handshake_bytes(good, sni="cucm.example.com", app_data=b"GET /")
    bad_wire, err = pcapgen.handshake_bytes(bad, sni="cucm.example.com", trust_pem=good.ca_pem)
    assert err
    paths = []
    for i in range(40):
        frames = []
        for j in range(12):
            wire, port = (bad_wire, 6972) if j % 3 == 2 else (ok_wire, 8443)
            ep = pcapgen.Endpoints(client=f"10.1.{i}.{j + 1}", cport=40000 + j, sport=port)
            frames += pcapgen.tcp_flow(wire, ep, t0=1_780_000_000.0 + j + i / 40)
        frames.sort(key=lambda f: f[0])
        p = d / f"eth0_capture{i:02d}.pcap"
        pcapgen.write_pcap(p, frames)
        paths.append(p)
    paths[22].write_bytes(b"\x00garbage, not a capture" * 10)
    (d / "trust.pem").write_bytes(good.ca_pem)
    return paths, d / "trust.pem"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_forty_captures_one_unreadable(cluster, forty, fmt: str) -> None:  # type: ignore[no-untyped-def]
    paths, trust = forty
    r = same_as_local(cluster[0].scheduler_address, "inspect", *map(str, paths), "--trust-store", str(trust),
                      "--format", fmt)
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [f"pcaptls: {paths[22]}: data of an unknown kind (first bytes 00676172), not a capture (pcap or pcapng, optionally gzip-compressed), a folder of captures or a diagnostic bundle"]
    assert r.stdout.count(b"cucm.example.com") >= 39 * 12


def test_frames_on_cluster_equal_local(cluster) -> None:  # type: ignore[no-untyped-def]
    _lc, client = cluster
    paths = [str(p) for p in LAB]
    local = pcaptls.connections(paths, trust_store=TRUST)
    d = pcaptls.dask.connections(paths, trust_store=TRUST)
    assert d.npartitions == len(paths)
    stores = [k for k in dict(d.__dask_graph__()) if str(k).startswith("pcaptls-truststore-")]
    assert len(stores) == 1  # the trust store is one key: shipped to each worker once
    got = d.compute().sort_values(["start", "first_frame"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, local)
    # Verdicts are cached per worker: over two runs, each worker computed each distinct verdict once.
    d.compute()
    judged = client.run(lambda: [(v.judge.computed, len(v.judge._cache)) for v in pcaptls.dask._VERDICTS.values()])
    assert all(n == cached for w in judged.values() for n, cached in w)
    assert 0 < sum(n for w in judged.values() for n, _c in w) < local["verify"].notna().sum()
    # A bundle (its captures, its ca_*.pem), a glob, a folder and a file:// URL give the same rows.
    pd.testing.assert_frame_equal(pcaptls.dask.connections(BUNDLE).compute().reset_index(drop=True),
                                  pcaptls.connections(BUNDLE))
    by_glob = pcaptls.dask.connections(str(CAPTURES / "0*" / "capture.pcap"), trust_store=TRUST)
    assert by_glob.npartitions == len(list(CAPTURES.glob("0*/capture.pcap"))) >= 8
    url = pcaptls.dask.connections(f"file://{CAPTURES}/0*/capture.pcap", trust_store=TRUST).compute()
    assert url["capture"].str.startswith("file://").all()
    pd.testing.assert_frame_equal(url.drop(columns="capture"), by_glob.compute().drop(columns="capture"))
    folder = pcaptls.dask.connections(CAPTURES / "08-messy-network", trust_store=TRUST)
    assert folder.npartitions == 2


def test_graph_build_reads_no_capture(cluster, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("a capture was read while building the graph")

    monkeypatch.setattr(pcaptls.dask, "analyse", refuse)
    d = pcaptls.dask.connections([str(p) for p in LAB], trust_store=TRUST)
    assert dict(d.dtypes) == dict(pcaptls.api.connections_frame([]).dtypes)
    assert list(d.columns) == pcaptls.api.CONNECTION_COLUMNS


def test_unreadable_partition_raises_or_is_empty(cluster, forty) -> None:  # type: ignore[no-untyped-def]
    paths, trust = forty
    few = [str(p) for p in paths[20:24]]
    with pytest.raises(pcaptls.errors.InputError, match=f"{paths[22]}: not a pcap"):
        pcaptls.dask.connections(few, trust_store=trust).compute()
    got = pcaptls.dask.connections(few, trust_store=trust, errors="warn").compute()
    assert len(got) == 3 * 12 and str(paths[22]) not in set(got["capture"])


def test_findings_and_timeline_on_cluster_equal_local(cluster) -> None:  # type: ignore[no-untyped-def]
    _lc, client = cluster
    pd.testing.assert_frame_equal(pcaptls.dask.findings(BUNDLE, client=client), pcaptls.findings(BUNDLE))
    pd.testing.assert_frame_equal(pcaptls.dask.timeline(BUNDLE, client=client), pcaptls.timeline(BUNDLE))


def test_worker_killed_mid_run_same_output(cluster, forty) -> None:  # type: ignore[no-untyped-def]
    """One worker process killed (SIGKILL) while the 40 captures are being analysed: its tasks
    run again elsewhere (their input travels in the task) and the output is unchanged."""
    lc, client = cluster
    paths, trust = forty
    args = ["inspect", *map(str, paths), "--trust-store", str(trust), "--format", "jsonl"]
    local = cli(*args)
    pids = client.run(os.getpid)
    proc = subprocess.Popen([sys.executable, "-m", "pcaptls.cli", *args, "--scheduler", lc.scheduler_address],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        for ts in list(lc.scheduler.tasks.values()):
            if str(ts.key).startswith("analyse_bytes-") and ts.state == "processing" and ts.processing_on is not None:
                victim = ts.processing_on.address
                break
        else:
            time.sleep(0.002)
    assert victim is not None, "the run ended before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    out, err = proc.communicate(timeout=240)
    assert (proc.returncode, out, err) == (local.returncode, local.stdout, local.stderr)
    assert proc.returncode == 2
    client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()  # it did die (and its nanny made a new one)


def test_key_log_on_cluster_equals_local(cluster) -> None:  # type: ignore[no-untyped-def]
    """keylog= (and --keylog with --scheduler): the workers get the secrets and decrypt as a local
    run does; without them the TLS 1.3 chain stays hidden."""
    _lc, client = cluster
    lab = CAPTURES / "11-tls13-keylog"
    if not (lab / "keylog.txt").exists():
        pytest.skip("lab key-log scenario not generated")
    cap, keys, trust = str(lab / "capture.pcap"), str(lab / "keylog.txt"), str(lab / "truststore.pem")
    local = pcaptls.connections(cap, trust_store=trust, keylog=keys)
    assert local["server_certs"].map(len).sum() > 0
    assert pcaptls.connections(cap, trust_store=trust)["server_certs"].map(len).sum() == 0
    remote = pcaptls.dask.connections(cap, trust_store=trust, keylog=keys).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(remote, local)
    pd.testing.assert_frame_equal(pcaptls.dask.findings(cap, trust_store=trust, keylog=keys, client=client),
                                  pcaptls.findings(cap, trust_store=trust, keylog=keys))
    same_as_local(client.scheduler.address, "inspect", cap, "--trust-store", trust, "--keylog", keys, "--format", "jsonl")
