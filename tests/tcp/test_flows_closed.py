"""Segments sent again after both sides closed belong to the closed connection (both engines).

captures/09-fin-retransmitted (recorded by captures/lab.py): two TLS 1.2 connections that end
with close_notify and FIN both ways; after c2 has closed on both sides the lab's bridge
(captures/_mess.py, rule ``resend_close``) sends the server's close_notify segment and its FIN
segment again three times, 200, 400 and 800 ms later, and the client's stack (in TIME_WAIT)
answers each copy with an ACK. Before the fix (b727c38) the first copy retired the settled
connection and the next opened a phantom one on the same 4-tuple: FAILED, "server closed the
connection (FIN) before ServerHello", exit 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pcaptls.pipeline.analysis import analyse
from tests.helpers.paths import CAPTURES

pytestmark = pytest.mark.engines
LAB = CAPTURES / "09-fin-retransmitted"
CAPTURE = LAB / "capture.pcap"
MANIFEST = json.loads((LAB / "manifest.json").read_text())
C2 = MANIFEST["connections"][1]


def _server_segments(tshark: str, path: Path) -> list[tuple[int, int, bool, int]]:
    """c2's server-to-client segments as tshark reads them: (frame, relative seq, FIN, length)."""
    srv, cli = C2["server"], C2["client"]
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-Y",
         f"ip.src=={srv['ip']} && tcp.srcport=={srv['port']} && tcp.dstport=={cli['port']}",
         "-T", "fields", "-e", "frame.number", "-e", "tcp.seq", "-e", "tcp.flags.fin", "-e", "tcp.len"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    return [(int(f), int(s), fin in ("1", "True"), int(n))
            for f, s, fin, n in (line.split("\t") for line in out.splitlines())]


def test_the_capture_holds_the_resent_close(tshark: str) -> None:
    """The bridge did what the manifest says, and tshark sees it: the server's last data segment
    (its close_notify) and its FIN, each four times on the wire, the copies after the client's FIN."""
    assert MANIFEST["network"]["impairment"]["done"] == [
        {"connection": 2, "action": "resend_close", "copies": 3, "frames_per_copy": 2}]
    segs = _server_segments(tshark, CAPTURE)
    fins = [s for s in segs if s[2]]
    last_data = max(s[1] for s in segs if s[3] > 0)
    close_notify = [s for s in segs if s[3] > 0 and s[1] == last_data]
    assert len(fins) == len(close_notify) == 4
    assert close_notify[0][3] == 31  # an AES-GCM alert record: 5 + 8 + 2 + 16 bytes
    assert all(f[0] > C2["first_frame"] for f in fins)


@pytest.mark.parametrize("copies", [1, 3])
def test_close_sent_again_opens_no_connection(tmp_path: Path, tshark: str, copies: int, engine: str) -> None:
    """The whole capture, and the capture cut right after the first copy (editcap keeps frames as
    recorded): two connections, both ok, c2 whole, no phantom on its 4-tuple."""
    path = CAPTURE
    if copies == 1:
        fins = [s[0] for s in _server_segments(tshark, CAPTURE) if s[2]]
        path = tmp_path / "first-copy.pcap"
        subprocess.run(["editcap", "-r", str(CAPTURE), str(path), f"1-{fins[1] + 1}"], check=True,
                       capture_output=True)
    conns = analyse(path).connections
    assert sorted(c.id for c in conns) == sorted(m["pcaptls_id"] for m in MANIFEST["connections"])
    assert [c.status for c in conns] == ["ok", "ok"]
    again = next(c for c in conns if c.id == C2["pcaptls_id"])
    assert again.saw_syn and again.handshake_done
    assert not any(a.kind == "no_syn" for c in conns for a in c.anomalies)


@pytest.mark.parametrize("command", ["inspect", "diagnose"])
def test_cli_exit_0(command: str, engine: str) -> None:
    out = subprocess.run([sys.executable, "-c", "import sys; from pcaptls.cli import main; sys.exit(main())",
                          command, str(CAPTURE), "--trust-store", str(LAB / "truststore.pem"), "--format", "jsonl"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    if command == "inspect":
        assert [json.loads(line)["status"] for line in out.stdout.splitlines()] == ["ok", "ok"]


def test_close_sent_again_after_the_close_delay(tmp_path: Path, tshark: str, engine: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The same copies arriving CLOSE_DELAY + 5 s after c2's last packet (the recorded frames,
    their times shifted): c2 was handed on when it had been quiet CLOSE_DELAY, so its record ends
    at its last packet before the copies, and the copies, absorbed by its emptied entry, open no
    phantom connection. The same whether or not a sweep comes between (SWEEP_EVERY 2, Python
    reference: the Rust constant is fixed, and the engines are held equal by test_engines)."""
    from pcaptls.tcp import flows
    from tests.helpers import variants

    fins = [s[0] for s in _server_segments(tshark, CAPTURE) if s[2]]
    first_copy = fins[1] - 2  # each copy: the close_notify segment, the client's ACK, the FIN, its ACK
    frames, linktype = variants.frames_of(CAPTURE)
    late = flows.CLOSE_DELAY + 5.0
    shifted = [(t + late if n >= first_copy else t, lt, data, wl)
               for n, (t, lt, data, wl) in enumerate(frames, start=1)]
    path = tmp_path / "late-copies.pcap"
    path.write_bytes(variants.pcap(shifted, linktype))
    conns = analyse(path).connections
    assert [c.status for c in conns] == ["ok", "ok"]
    again = next(c for c in conns if c.id == C2["pcaptls_id"])
    assert (again.last_frame, again.end) == (first_copy - 1, frames[first_copy - 2][0])
    whole = next(c for c in analyse(CAPTURE).connections if c.id == C2["pcaptls_id"])
    assert whole.last_frame == len(frames)  # as recorded, the copies are part of c2's record
    if engine == "python":
        monkeypatch.setattr(flows, "SWEEP_EVERY", 2)
        assert analyse(path).connections == conns
