"""tshark as the dissection oracle: what Wireshark sees of each TCP connection's TLS.

Runs ``tshark -T json`` live and folds its per-frame dissection into one :class:`TsharkConn`
per TCP stream. JSON objects from tshark repeat keys (one per record/certificate); the
``object_pairs_hook`` keeps every repetition as a list.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

TSHARK = shutil.which("tshark")


@dataclass
class TsharkConn:
    stream: int
    first_frame: int
    client: tuple[str, int] | None = None  # sender of the ClientHello
    ends: set[tuple[str, int]] = field(default_factory=set)
    sni: str | None = None
    version: int | None = None
    cipher: int | None = None
    server_chain: list[str] | None = None  # sha256 hex, wire order
    alerts: list[tuple[str, int]] = field(default_factory=list)  # (sender ip:port, code)
    handshake_seen: bool = False
    hello_senders: dict[int, tuple[str, int]] = field(default_factory=dict)
    # The first ClientHello's and ServerHello's lists and tshark's JA3/JA3S strings (None: no hello).
    hello_lists: dict[str, Any] | None = None
    server_lists: dict[str, Any] | None = None


def _extension(hs: dict[str, Any], etype: str) -> list[Any]:
    """The extension subtrees of type ``etype`` in a hello (signature_algorithms_cert and
    delegated_credentials carry sig_hash_alg too)."""
    return [e for e in _subtrees(hs) if isinstance(e, dict) and e.get("tls.handshake.extension.type") == etype]


def _subtrees(obj: Any) -> list[Any]:
    out: list[Any] = []
    if isinstance(obj, dict):
        for v in obj.values():
            for item in _all(v):
                if isinstance(item, dict):
                    out.append(item)
                    out.extend(_subtrees(item))
    return out


def _ints(values: list[Any]) -> list[int]:
    """tshark writes codes as decimal or 0x-hex strings."""
    return [int(v, 0) for v in values if isinstance(v, str)]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            if isinstance(out[k], list) and getattr(out[k], "_dup", False):
                out[k].append(v)
            else:
                lst = _Dup([out[k], v])
                out[k] = lst
        else:
            out[k] = v
    return out


class _Dup(list):  # type: ignore[type-arg]
    _dup = True


def _all(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, _Dup):
        return list(v)
    return [v]


def _find(obj: Any, key: str) -> list[Any]:
    """Every value under ``key`` anywhere below ``obj``, in document order."""
    found: list[Any] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.extend(_all(v))
            for item in _all(v):
                found.extend(_find(item, key))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(_find(item, key))
    return found


def _sha256_of_hex(h: str) -> str:
    import hashlib

    return hashlib.sha256(bytes.fromhex(h.replace(":", ""))).hexdigest()


def tshark_connections(path: str, extra: list[str] | None = None) -> dict[int, TsharkConn]:
    """tcp.stream -> what tshark saw of TLS on it (only streams where it saw any TLS record)."""
    return _cached(str(path), tuple(extra or ()))


@functools.lru_cache(maxsize=256)
def _cached(path: str, extra: tuple[str, ...]) -> dict[int, TsharkConn]:
    assert TSHARK, "tshark not installed"
    # Out-of-order reassembly is off by default in tshark 4.0; without it tshark misses hellos
    # that arrive reordered (e.g. postgresql__psql-aws-ssl-preferred.pcap).
    cmd = [TSHARK, "-n", "-r", path, "-o", "tcp.reassemble_out_of_order:TRUE", "-T", "json",
           "-J", "frame ip ipv6 tcp tls", *(extra or [])]
    out = subprocess.run(cmd, capture_output=True, check=False, timeout=600).stdout
    packets = json.loads(out or b"[]", object_pairs_hook=_pairs)
    conns: dict[int, TsharkConn] = {}
    for pkt in packets:
        layers = pkt["_source"]["layers"]
        tcp = layers.get("tcp")
        if not isinstance(tcp, dict) or "tcp.stream" not in tcp:
            continue
        stream = int(tcp["tcp.stream"])
        frame = int(layers["frame"]["frame.number"])
        ip = layers.get("ip") or layers.get("ipv6")
        if isinstance(ip, _Dup):  # tunnels: the innermost header carries the TCP
            ip = ip[-1]
        if ip is None:
            continue
        src = ip.get("ip.src") or ip.get("ipv6.src")
        sport = int(tcp["tcp.srcport"])
        dst = ip.get("ip.dst") or ip.get("ipv6.dst")
        dport = int(tcp["tcp.dstport"])
        c = conns.get(stream)
        if c is None:
            c = conns[stream] = TsharkConn(stream, frame)
        c.ends.update({(src, sport), (dst, dport)})
        for tls in _all(layers.get("tls")):
            if not isinstance(tls, dict):
                continue
            for rec in _find(tls, "tls.record"):
                if not isinstance(rec, dict):
                    continue
                for hs in _all(rec.get("tls.handshake")):
                    if not isinstance(hs, dict) or "tls.handshake.type" not in hs:
                        continue
                    htype = int(hs["tls.handshake.type"])
                    c.handshake_seen = True
                    if htype == 1 and 1 not in c.hello_senders:
                        c.hello_senders[1] = (src, sport)
                        names = _find(hs, "tls.handshake.extensions_server_name")
                        if names:
                            c.sni = names[0]
                        ja3 = _find(hs, "tls.handshake.ja3_full")
                        c.hello_lists = {
                            "ciphers": _ints(_find(hs, "tls.handshake.ciphersuite")),
                            "extensions": _ints(_find(hs, "tls.handshake.extension.type")),
                            "groups": _ints(_find(hs, "tls.handshake.extensions_supported_group")),
                            "sigalgs": _ints(_find(_extension(hs, "13"), "tls.handshake.sig_hash_alg")),
                            "point_formats": _ints(_find(hs, "tls.handshake.extensions_ec_point_format")),
                            "ja3": ja3[0] if ja3 else None,
                        }
                    elif htype == 2 and 2 not in c.hello_senders:
                        c.hello_senders[2] = (src, sport)
                        sv = _find(hs, "tls.handshake.extensions.supported_version")
                        v = hs.get("tls.handshake.version")
                        c.version = int(sv[-1], 16) if sv else (int(v, 16) if v else None)
                        cs = hs.get("tls.handshake.ciphersuite")
                        c.cipher = int(cs, 16) if isinstance(cs, str) else None
                        ja3s = _find(hs, "tls.handshake.ja3s_full")
                        c.server_lists = {"extensions": _ints(_find(hs, "tls.handshake.extension.type")),
                                          "ja3s": ja3s[0] if ja3s else None}
                    elif htype in (11, 25):  # Certificate, CompressedCertificate (decrypted by a DSB)
                        certs = _find(hs, "tls.handshake.certificate")
                        server = c.hello_senders.get(2)
                        from_server = server == (src, sport) if server else c.hello_senders.get(1) != (src, sport)
                        if from_server and c.server_chain is None:
                            c.server_chain = [_sha256_of_hex(h) for h in certs if isinstance(h, str)]
                for alert in _all(rec.get("tls.alert_message")):
                    if isinstance(alert, dict) and "tls.alert_message.desc" in alert:
                        c.alerts.append((f"{src}|{sport}", int(alert["tls.alert_message.desc"])))
        if 1 in c.hello_senders:
            c.client = c.hello_senders[1]
    return {k: v for k, v in conns.items() if v.handshake_seen}
