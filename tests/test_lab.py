"""The lab is proven before pcaptls is judged on it.

Every shipped scenario under ``captures/`` is read by tshark (the dissection oracle, with TCP
and TLS reassembly on, out-of-order segments included) and by
``openssl verify`` (the verification oracle), and both must agree with the scenario's
``manifest.json``: SNI, negotiated version and cipher, the server's chain as sent, whether a
CertificateRequest went out, the alerts (who sent them, level, description, or that they were
encrypted), and OpenSSL's verdict at the handshake's own time. The Expressway log lines the
manifest attributes to a connection must say what the manifest says about it, at its time.

``test_regenerated_lab_agrees_with_tshark`` (marked ``netns``) reruns ``captures/lab.py`` into a
temporary folder and applies the same checks to fresh captures; it needs root and ``ip netns``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
LAB = CAPTURES / "lab.py"
SCENARIOS = [
    "01-cucm-8443-ok",
    "02-tftp-6972-selfsigned-ecdsa",
    "03-ip-not-in-san",
    "04-untrusted-root",
    "05-expired",
    "06-tls13",
    "07-xmpp-starttls-5222",
    "08-messy-network",
    "mra-login",
    "09-fin-retransmitted",
    "10-resumption",
    "11-tls13-keylog",
    "12-tls12-keylog",
]
X509_CODES = {
    "OK": 0, "UNABLE_TO_GET_ISSUER_CERT": 2, "CERT_NOT_YET_VALID": 9, "CERT_HAS_EXPIRED": 10,
    "DEPTH_ZERO_SELF_SIGNED_CERT": 18, "SELF_SIGNED_CERT_IN_CHAIN": 19,
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": 20, "UNABLE_TO_VERIFY_LEAF_SIGNATURE": 21,
    "HOSTNAME_MISMATCH": 62, "IP_ADDRESS_MISMATCH": 64,
}
# Ports tshark dissects as TLS (or XMPP with STARTTLS) by itself.
_TSHARK_KNOWS = {443, 5222}
_FIELDS = [
    "frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst",
    "tcp.dstport", "tcp.seq",
    "tls.record.content_type", "tls.handshake.type", "tls.handshake.extensions_server_name",
    "tls.handshake.version", "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite", "tls.alert_message.level", "tls.alert_message.desc",
    "tls.handshake.certificate",
]

needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None,
                                  reason="tshark is not installed (apt-get install tshark)")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl is not installed")


# ------------------------------------------------------------------------ what tshark sees


Endpoint = tuple[str, int]


@dataclass
class Seen:
    """tshark's reading of one TCP connection, from the client's and server's side."""

    client_hellos: list[str | None] = field(default_factory=list)  # SNI per ClientHello
    server_hellos: list[tuple[int, int]] = field(default_factory=list)  # (version, cipher)
    chains: list[list[str]] = field(default_factory=list)  # sha256 per certificate, wire order
    server_handshake_types: list[int] = field(default_factory=list)
    alerts: list[tuple[str, int, int]] = field(default_factory=list)  # plaintext
    encrypted_alerts: list[str] = field(default_factory=list)  # sender per encrypted alert record
    frames: int = 0
    first_frame: int | None = None
    first_time: float | None = None


def _ints(value: str) -> list[int]:
    return [int(v, 0) for v in value.split(",") if v]


def tshark_view(pcap: Path, clients: set[Endpoint], ports: set[int]) -> dict[frozenset, Seen]:
    """Per connection (the set of its two endpoints): what tshark dissects in ``pcap``.

    ``clients`` are the endpoints that play the client, so each record gets a sender.
    Retransmitted and duplicated segments are counted once (by direction and sequence number).
    """
    argv = ["tshark", "-r", str(pcap), "-n",
            "-o", "tls.desegment_ssl_records:TRUE", "-o", "tcp.desegment_tcp_streams:TRUE",
            "-o", "tcp.reassemble_out_of_order:TRUE"]
    for port in sorted(ports - _TSHARK_KNOWS):
        argv += ["-d", f"tcp.port=={port},tls"]
    argv += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in _FIELDS:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    view: dict[frozenset, Seen] = defaultdict(Seen)
    done: set[tuple[str, Endpoint, int]] = set()
    for line in out.splitlines():
        row = dict(zip(_FIELDS, line.split("\t"), strict=False))
        if not row.get("tcp.stream"):
            continue
        src = (row["ip.src"], int(row["tcp.srcport"]))
        dst = (row["ip.dst"], int(row["tcp.dstport"]))
        seen = view[frozenset((src, dst))]
        seen.frames += 1
        if seen.first_frame is None:
            seen.first_frame = int(row["frame.number"])
            seen.first_time = float(row["frame.time_epoch"])
        if not row.get("tls.record.content_type"):
            continue
        key = (row["tcp.stream"], src, int(row["tcp.seq"]))
        if key in done:  # a duplicate of records already counted
            continue
        done.add(key)
        sender = "client" if src in clients else "server"
        types = _ints(row.get("tls.handshake.type", ""))
        if 1 in types:
            seen.client_hellos.append(row.get("tls.handshake.extensions_server_name") or None)
        if 2 in types:
            supported = _ints(row.get("tls.handshake.extensions.supported_version", ""))
            version = supported[0] if supported else _ints(row["tls.handshake.version"])[0]
            seen.server_hellos.append((version, _ints(row["tls.handshake.ciphersuite"])[0]))
        if sender == "server":
            seen.server_handshake_types += types
        if row.get("tls.handshake.certificate") and sender == "server":
            seen.chains.append([hashlib.sha256(bytes.fromhex(h.replace(":", ""))).hexdigest()
                                for h in row["tls.handshake.certificate"].split(",")])
        levels = _ints(row.get("tls.alert_message.level", ""))
        descs = _ints(row.get("tls.alert_message.desc", ""))
        seen.alerts += [(sender, lv, d) for lv, d in zip(levels, descs, strict=True)]
        n_alert_records = _ints(row["tls.record.content_type"]).count(21)
        seen.encrypted_alerts += [sender] * (n_alert_records - len(levels))
    return view


def _endpoints(conn: dict[str, Any]) -> tuple[Endpoint, Endpoint]:
    return ((conn["client"]["ip"], conn["client"]["port"]),
            (conn["server"]["ip"], conn["server"]["port"]))


def check_connection(conn: dict[str, Any], seen: Seen) -> list[str]:
    """Where tshark's reading of a whole connection disagrees with the manifest."""
    cid = conn["id"]
    problems = []

    def expect(what: str, got: Any, want: Any) -> None:
        if got != want:
            problems.append(f"{cid} {what}: tshark {got!r}, manifest {want!r}")

    expect("first frame", seen.first_frame, conn["first_frame"])
    expect("TCP frames", seen.frames, conn["tcp_frames"])
    if seen.first_time is None or abs(seen.first_time - conn["start"]) > 1e-6:
        problems.append(f"{cid} start: tshark {seen.first_time}, manifest {conn['start']}")
    # A HelloRetryRequest is a ServerHello on the wire, and the client says hello again.
    hellos = 2 if conn.get("hello_retry") else 1
    expect("ClientHello SNI", seen.client_hellos, [conn["sni"]] * hellos)
    expect("ServerHello (version, cipher)", seen.server_hellos,
           [(conn["version_id"], conn["cipher_id"])] * hellos)
    if conn["certificates_visible"]:
        expect("server chain sha256", seen.chains, [conn["server_chain_sha256"]])
        expect("CertificateRequest", 13 in seen.server_handshake_types,
               conn["certificate_request"])
    else:
        expect("certificates in clear", seen.chains, [])
        expect("CertificateRequest in clear", 13 in seen.server_handshake_types, False)
    want_plain = [(a["sender"], a["level"], a["code"]) for a in conn["alerts"]
                  if a["wire"] == "plaintext"]
    want_encrypted = [a["sender"] for a in conn["alerts"] if a["wire"] == "encrypted"]
    expect("plaintext alerts (sender, level, code)", seen.alerts, want_plain)
    expect("encrypted alert records by sender", sorted(seen.encrypted_alerts),
           sorted(want_encrypted))
    return problems


def check_capture(folder: Path, manifest: dict[str, Any]) -> list[str]:
    conns = manifest["connections"]
    clients = {_endpoints(c)[0] for c in conns}
    ports = {c["server"]["port"] for c in conns}
    view = tshark_view(folder / manifest["files"]["capture"], clients, ports)
    problems = []
    for conn in conns:
        seen = view.get(frozenset(_endpoints(conn)))
        if seen is None:
            problems.append(f"{conn['id']} {conn['pcaptls_id']}: not in the capture")
            continue
        problems += check_connection(conn, seen)
    known = {frozenset(_endpoints(c)) for c in conns}
    extra = [sorted(k) for k, s in view.items() if k not in known and s.client_hellos]
    if extra:
        problems.append(f"TLS connections tshark sees that the manifest does not list: {extra}")
    return problems


def check_midstream(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """The cut capture: partial connections lost their hellos, whole ones read as before."""
    mid = manifest["midstream"]
    conns = manifest["connections"]
    clients = {_endpoints(c)[0] for c in conns}
    ports = {c["server"]["port"] for c in conns}
    full = tshark_view(folder / manifest["files"]["capture"], clients, ports)
    view = tshark_view(folder / mid["file"], clients, ports)
    problems = []
    if sum(s.frames for s in view.values()) == sum(s.frames for s in full.values()):
        problems.append("midstream.pcap holds as many TCP frames as capture.pcap")
    if not any("server_hello" in lost for lost in mid["lost"].values()):
        problems.append("no connection loses its ServerHello to the cut")
    for conn in conns:
        seen = view.get(frozenset(_endpoints(conn)))
        if conn["id"] in mid["partial_connections"]:
            lost = mid["lost"][conn["id"]]
            if seen is None:
                problems.append(f"{conn['id']}: partial connection missing from midstream.pcap")
                continue
            if ("client_hello" in lost) == bool(seen.client_hellos):
                problems.append(f"{conn['id']}: lost {lost}, tshark sees ClientHellos "
                                f"{seen.client_hellos}")
            if ("server_hello" in lost) == bool(seen.server_hellos):
                problems.append(f"{conn['id']}: lost {lost}, tshark sees ServerHellos "
                                f"{seen.server_hellos}")
            if "server_hello" in lost and seen.chains:
                problems.append(f"{conn['id']}: its Certificate was cut, tshark sees a chain")
        elif seen is None:
            problems.append(f"{conn['id']}: whole connection missing from midstream.pcap")
        else:
            shifted = {**conn, "first_frame": mid["first_frames"][conn["id"]]}
            problems += check_connection(shifted, seen)
    return problems


# ------------------------------------------------------------------- what openssl verify says


def check_verdicts(folder: Path, manifest: dict[str, Any], tmp: Path) -> list[str]:
    """``openssl verify`` on each visible chain, as tshark extracted it, at the handshake's
    time, with the scenario's trust store and the name Expressway used."""
    conns = manifest["connections"]
    ports = {c["server"]["port"] for c in conns}
    pcap = folder / manifest["files"]["capture"]
    argv = ["tshark", "-r", str(pcap), "-n", "-o", "tls.desegment_ssl_records:TRUE",
            "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "tcp.reassemble_out_of_order:TRUE"]
    for port in sorted(ports - _TSHARK_KNOWS):
        argv += ["-d", f"tcp.port=={port},tls"]
    argv += ["-Y", "tls.handshake.certificate", "-T", "fields", "-E", "occurrence=a",
             "-E", "aggregator=,", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst",
             "-e", "tcp.dstport", "-e", "frame.time_epoch", "-e", "tls.handshake.certificate"]
    rows = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()
    chains = {}
    for row in rows:
        src, sport, dst, dport, when, certs = row.split("\t")
        chains[frozenset({(src, int(sport)), (dst, int(dport))})] = (
            float(when), [bytes.fromhex(h.replace(":", "")) for h in certs.split(",")])
    problems = []
    for conn in conns:
        if not conn["certificates_visible"]:
            continue
        when, ders = chains[frozenset(_endpoints(conn))]
        leaf, rest = tmp / "leaf.der", tmp / "rest.pem"
        leaf.write_bytes(ders[0])
        cmd = ["openssl", "verify", "-attime", str(int(when)), "-purpose", "sslserver",
               "-CAfile", str(folder / manifest["files"]["truststore"])]
        if len(ders) > 1:
            rest.write_text("".join(_pem(d) for d in ders[1:]))
            cmd += ["-untrusted", str(rest)]
        leaf_pem = tmp / "leaf.pem"
        leaf_pem.write_text(_pem(ders[0]))
        cmd += ["-verify_ip" if conn["sni"] is None else "-verify_hostname", conn["target"],
                str(leaf_pem)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        text = res.stdout + res.stderr
        m = re.search(r"error (\d+) at (\d+) depth lookup", text)
        got = (int(m.group(1)), int(m.group(2))) if m else (0 if res.returncode == 0 else -1,
                                                             None)
        want = (X509_CODES[conn["verify"]["result"]], conn["verify"]["depth"])
        if got != want:
            problems.append(f"{conn['id']}: openssl verify says {got} ({text.strip()!r}), "
                            f"manifest {want}")
    return problems


def _pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


# ------------------------------------------------------------------------- the Expressway log

_UTC = re.compile(r'UTCTime="(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})"')
_LOCAL = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) vcsc ")


def _log_time(line: str) -> float:
    import datetime as dt

    m = _LOCAL.match(line)
    assert m, line
    return dt.datetime.fromisoformat(m.group(1)).timestamp()


def check_log(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Each line the manifest ties to a connection says what the manifest says, at its time."""
    import datetime as dt

    lines = (folder / manifest["files"]["log"]).read_text().splitlines()
    conns = {c["id"]: c for c in manifest["connections"]}
    offset = manifest["log_clock_offset_seconds"]
    problems = []
    if len(manifest["log_lines"]) != len(lines):
        problems.append(f"manifest indexes {len(manifest['log_lines'])} of {len(lines)} lines")
    kinds: dict[str, list[str]] = defaultdict(list)
    for entry in manifest["log_lines"]:
        text = lines[entry["line"] - 1]
        if entry["kind"] == "httpmsg":
            if not (text == "HTTPMSG:" or text.startswith("|")):
                problems.append(f"line {entry['line']}: not part of an HTTPMSG block: {text!r}")
            continue
        t = _log_time(text)
        utc = _UTC.search(text)
        if utc:
            stamp = dt.datetime.strptime(utc.group(1), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=dt.timezone.utc).timestamp() + int(utc.group(2)) / 1000
            if abs(stamp - t) > 0.0005:
                problems.append(f"line {entry['line']}: UTCTime and local time disagree")
        cid = entry["connection"]
        if cid is None:
            continue
        conn = conns[cid]
        kinds[cid].append(entry["kind"])
        times = conn["times"]
        if not times["t_connect"] - 0.05 <= t - offset <= times["t_closed"] + 0.05:
            problems.append(f"line {entry['line']} ({cid}): at {t - offset:.3f} capture time, "
                            f"outside the connection [{times['t_connect']:.3f}, "
                            f"{times['t_closed']:.3f}]")
        ip, port, target = conn["server"]["ip"], conn["server"]["port"], conn["target"]
        v = conn["verify"]
        want = {
            "sending_request": f'Dst-ip="{ip}" Dst-port="{port}" Msg="{conn["http_request"]}"',
            "verify_failed": f"Core server certificate verification failed for ({target}). "
                             f"Action=Terminate Error={v.get('log_message')} "
                             f"server={target}({ip}) depth={v['depth']}",
            "name_failed": f"SNI ({target}) not in certificate. Action=Terminate "
                           f"server={target}({ip})",
            "ssl_failed": f"ERROR: SSL connection failed for '{target}': "
                          + ("error:1408F119" if v["result"] == "OK" else "error:1416F086"),
            "xmpp_connect": f'Address="{ip}:{port}"',
        }.get(entry["kind"])
        if want and want not in text:
            problems.append(f"line {entry['line']} ({cid}): {want!r} not in {text!r}")
        if entry["kind"] == "receive_request":
            seg = re.search(r'Msg="GET /([A-Za-z0-9_-]+)/', text).group(1)
            decoded = base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)).decode()
            if not decoded.endswith(f"/https/{target}/{port}"):
                problems.append(f"line {entry['line']}: base64 target {decoded!r}")
        if entry["kind"] == "sending_response":
            status = "502 connect failed" if conn["outcome"] == "failed" else "200 OK"
            if status not in text:
                problems.append(f"line {entry['line']} ({cid}): no {status!r}")
    for cid, conn in conns.items():
        got = kinds.get(cid, [])
        if conn["protocol"] == "xmpp-starttls":
            if "xmpp_tls" not in got:
                problems.append(f"{cid}: no XCP line about its TLS")
        elif conn["outcome"] == "failed" and conn["verify"]["result"] == "OK":
            # The chain passed and the handshake failed later: no verification WARNING.
            if got.count("ssl_failed") != 1 or {"verify_failed", "name_failed"} & set(got):
                problems.append(f"{cid}: failure lines {got}")
        elif conn["outcome"] == "failed":
            fail = "name_failed" if conn["verify"]["result"].endswith("_MISMATCH") \
                else "verify_failed"
            if got.count(fail) != 1 or got.count("ssl_failed") != 1:
                problems.append(f"{cid}: failure lines {got}")
        elif "receive_response" not in got:
            problems.append(f"{cid}: no response line")
    return problems


# ---------------------------------------------------------------------------- the tests


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def check_scenario(folder: Path, tmp: Path) -> list[str]:
    manifest = _manifest(folder)
    problems = check_capture(folder, manifest) + check_verdicts(folder, manifest, tmp)
    problems += check_log(folder, manifest)
    if "midstream" in manifest:
        problems += check_midstream(folder, manifest)
    return problems


@needs_tshark
@needs_openssl
@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_agrees_with_tshark_and_openssl(name: str, tmp_path: Path) -> None:
    folder = CAPTURES / name
    assert (folder / "manifest.json").is_file(), f"{folder} not generated (run captures/lab.py)"
    assert check_scenario(folder, tmp_path) == []


def test_scenarios_show_what_they_promise() -> None:
    """The shapes the issue asks for, from the manifests (tshark checks hold them to it)."""
    m = {name: _manifest(CAPTURES / name) for name in SCENARIOS}

    def verdicts(name: str) -> list[tuple[str, int | None]]:
        return [(c["verify"]["result"], c["verify"]["depth"]) for c in m[name]["connections"]]

    assert all(c["outcome"] == "ok" for c in m["01-cucm-8443-ok"]["connections"])
    c02 = m["02-tftp-6972-selfsigned-ecdsa"]["connections"][0]
    assert (c02["server"]["port"], c02["server_key"], c02["certificate_request"]) == (
        6972, "ECDSA secp384r1", True)
    assert [(a["sender"], a["level"], a["description"], a["wire"]) for a in c02["alerts"]] == [
        ("client", 2, "unknown_ca", "plaintext")]
    assert verdicts("02-tftp-6972-selfsigned-ecdsa")[0] == ("DEPTH_ZERO_SELF_SIGNED_CERT", 0)
    c03 = m["03-ip-not-in-san"]["connections"][0]
    assert (c03["sni"], verdicts("03-ip-not-in-san")) == (None, [("IP_ADDRESS_MISMATCH", 0)])
    assert verdicts("04-untrusted-root")[0][1] > 0
    assert verdicts("05-expired") == [("CERT_HAS_EXPIRED", 0)]
    assert {c["version"] for c in m["06-tls13"]["connections"]} == {"TLSv1.3"}
    assert not any(c["certificates_visible"] for c in m["06-tls13"]["connections"])
    assert m["07-xmpp-starttls-5222"]["connections"][0]["protocol"] == "xmpp-starttls"
    assert m["mra-login"]["log_clock_offset_seconds"] != 0
    for name in ("01-cucm-8443-ok", "08-messy-network"):
        # Several TCP segments: a chain well over one MSS (1460 bytes).
        assert any(len(c["server_chain_sha256"]) >= 2 and c["server_key"] == "RSA 4096"
                   for c in m[name]["connections"])


@needs_tshark
def test_messy_network_has_certificates_out_of_order() -> None:
    """tshark flags reordering and retransmission in 08, at least once inside a server's
    certificate flight (the frames before the Certificate message completes)."""
    folder = CAPTURES / "08-messy-network"
    argv = ["tshark", "-r", str(folder / "capture.pcap"), "-n", "-d", "tcp.port==8443,tls",
            "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.analysis.flags",
            "-e", "tcp.analysis.out_of_order", "-e", "tcp.analysis.retransmission",
            "-e", "tcp.analysis.lost_segment", "-e", "tls.handshake.type"]
    rows = [r.split("\t") for r in
            subprocess.run(argv, capture_output=True, text=True, check=True).stdout.splitlines()]
    disorder_before_cert: set[str] = set()
    cert_done: set[str] = set()
    flagged = 0
    for stream, sport, flags, ooo, retrans, lost, htypes in rows:
        if sport != "8443":
            continue
        if ooo or retrans or lost:
            flagged += 1
            if stream not in cert_done:
                disorder_before_cert.add(stream)
        if "11" in htypes.split(","):
            cert_done.add(stream)
    assert flagged >= 2
    assert disorder_before_cert & cert_done


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, tcpdump)"
    for tool in ("ip", "tcpdump", "ethtool", "tshark", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "ip netns is not usable here"
    return None


@pytest.mark.netns
@pytest.mark.slow
def test_regenerated_lab_agrees_with_tshark(tmp_path: Path) -> None:
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "captures"
    res = subprocess.run([sys.executable, str(LAB), "--out", str(out)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    problems = {}
    for name in SCENARIOS:
        found = check_scenario(out / name, tmp_path)
        if found:
            problems[name] = found
    assert problems == {}
