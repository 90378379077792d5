"""TlsConnection -> plain dict (the JSON-lines schema; CSV flattens it)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Mapping

from ..times import iso
from ..tls import fingerprints as fp
from ..tls.constants import alert_name, alert_title, group_name
from ..tls.model import HandshakeEvent, TlsConnection
from .safe import json_line


def cert_record(der: bytes) -> dict[str, Any]:
    """The JSON object for one certificate: a fresh dict (and ``san`` list) the caller may change."""
    d = _cert_record(der)
    return {**d, "san": list(d["san"])}


@lru_cache(maxsize=4096)  # the same few chains arrive on thousands of connections
def _cert_record(der: bytes) -> dict[str, Any]:
    # Imported here: cryptography loads only once a certificate is to be reported.
    from ..certificates.x509 import try_decode

    info = try_decode(der)
    if info is None:
        import hashlib

        return {"sha256": hashlib.sha256(der).hexdigest(), "subject": None, "issuer": None, "san": [],
                "not_before": None, "not_after": None, "key": None, "self_signed": None, "error": "not a decodable X.509 certificate"}
    return info.to_dict()


def verdict_record(v: Any) -> dict[str, Any] | None:
    """A :class:`~pcaptls.certificates.openssl.vocabulary.Verdict` as the ``verify`` object of the JSON."""
    if v is None:
        return None
    from ..certificates.openssl.advice import explain

    d = v.to_dict()
    d["expressway_message"] = v.expressway_message
    d["explanation"] = explain(v)
    if v.detail:
        d["detail"] = v.detail
    return d


def json_text(value: Any) -> str:
    """``value`` as written on a JSON line: compact, UTF-8, with :func:`~.safe.json_line`'s escapes."""
    return json_line(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


@lru_cache(maxsize=4096)
def cert_json(der: bytes) -> str:
    """:func:`json_text` of :func:`cert_record`: one certificate's JSON, made once."""
    return json_text(cert_record(der))


def connection_line(c: TlsConnection, verify_json: str | None, capture: str | None = None) -> str:
    """One JSON line (newline included) for ``c``: the same text as ``json_text`` of
    ``connection_record(c, verify, with_verify=True)`` (plus ``"capture"``), where
    ``verify_json`` is ``json_text`` of ``verify``: :func:`connection_parts` joined."""
    return "".join(connection_parts(c, verify_json, capture))


def connection_parts(c: TlsConnection, verify_json: str | None, capture: str | None = None) -> tuple[str, ...]:
    """:func:`connection_line` in pieces: the texts unique to ``c`` between the ones shared
    with other connections (the same str objects), so that a line waiting for time order is
    pickled (:mod:`pcaptls.pipeline.spill`) as what is its own and references to the rest.

    Written directly rather than through a dict and ``json.dumps``: a retry storm makes a line
    per connection, and the dict and the generic encoder were two thirds of its cost. Each
    value is encoded as ``json.dumps`` encodes it (:func:`_jv`). What repeats is encoded once:
    certificates, verdicts, each alert's and message's fields but time and frame, and the two
    runs of keys that do not depend on addresses, times or frames (from ``status`` to
    ``certificate_request``, and from ``resumed`` on: the hello lists and fingerprints),
    looked up together by the values they are made of (:func:`_shared`): on a storm, one
    handshake repeated. :func:`~.safe.json_line` escapes character by character, so it is
    applied to each piece (to the shared ones once). ``tests/report/test_records.py`` and the
    fuzzer hold it to the generic path."""
    # Times are finite floats (the readers refuse others) and frames ints: repr is what json.dumps writes.
    middle, hello = _shared(c)
    alerts, events, anomalies = c.alerts, c.handshake, c.anomalies
    client, server = c.client, c.server
    start, close_frame, close_time = c.start, c.close_frame, c.close_time
    head = "".join((
        '{"connection":', _encode_str(f"{client}-{server}"),  # c.id; unique per connection: not worth caching
        ',"client_ip":', _encode_str(client.ip), ',"client_port":', repr(client.port),
        ',"server_ip":', _js(server.ip), ',"server_port":', repr(server.port),
        ',"start":', repr(start), ',"start_utc":', _encode_str(iso(start) or ""), ',"end":', repr(c.end),
        ',"first_frame":', repr(c.first_frame),
    ))
    body = "".join((
        ',"alerts":[', ",".join([f'{{"time":{a.time!r},"frame":{a.frame!r},{_alert_tail(a.sender, a.level, a.code, a.encrypted)}}}'
                                 for a in alerts]) if alerts else "",
        '],"closed_by":', _jv(c.closed_by), ',"close_kind":', _jv(c.close_kind),
        ',"close_frame":', "null" if close_frame is None else repr(close_frame),
        ',"close_time":', "null" if close_time is None else repr(close_time), ',"last_frame":', repr(c.last_frame),
        ',"handshake":[', _events(events) if events else "",
        '],"anomalies":[', ",".join([f'{{"kind":{_js(x.kind)},"detail":{_encode_str(x.detail)},"time":{_jv(x.time)},'
                                     f'"sender":{_jv(x.sender)}}}' for x in anomalies]) if anomalies else "",
        "]",
    ))
    return (json_line(head), middle, json_line(body), hello, "null" if verify_json is None else json_line(verify_json),
            "}\n" if capture is None else _capture_end(capture))


def _capture_end(capture: str) -> str:
    """A line's end when it names its capture."""
    got = _CAPTURE_ENDS.get(capture)
    if got is None:
        got = json_line(f',"capture":{_encode_str(capture)}}}\n')
        if len(_CAPTURE_ENDS) < _PARTS_MAX:
            _CAPTURE_ENDS[capture] = got
    return got


def _events(events: tuple[HandshakeEvent, ...]) -> str:
    """The ``handshake`` list's items. A flight's messages share their segment's time and
    frame (both engines give them the same objects): those are written once for each run."""
    parts = []
    last_time = last_frame = _NOTHING
    head = ""
    tails = _EVENT_TAILS
    for e in events:
        time, frame = e.time, e.frame
        if time is not last_time or frame is not last_frame:  # the same objects: the same text
            head = f'{{"time":{time!r},"frame":{frame!r},'
            last_time, last_frame = time, frame
        key = (e.sender, e.type)
        tail = tails.get(key)
        if tail is None:
            tail = _event_tail(*key) + "}"
            if len(tails) < _PARTS_MAX:
                tails[key] = tail
        parts.append(head + tail)
    return ",".join(parts)


# The texts of _shared by what they are made of (bounded: a capture of many different clients
# makes many keys, and a miss costs only the encoding the cache saves).
_SHARED: dict[tuple[Any, ...], tuple[str, str]] = {}
_FINGERPRINTS: dict[tuple[Any, ...], tuple[str | None, ...]] = {}
_EVENT_TAILS: dict[tuple[str, int], str] = {}
_CAPTURE_ENDS: dict[str, str] = {}
_NOTHING = object()
_PARTS_MAX = 4096


def _shared(c: TlsConnection) -> tuple[str, str]:
    """``,"status":`` ... ``,"certificate_request":false`` of ``c``'s line, and the keys of
    :func:`hello_facts` (from ``,"resumed":``) as it writes them, up to ``,"verify":``."""
    status, reason, visible = c.status, c.reason, not c.is_tls13 or c.handshake_decrypted
    # Everything the two texts are made of (status, reason, visible and resumed stand for the
    # fields they are computed from): _middle's fields, then _hello_key's not among them.
    key = (status, reason, c.sni, c.version_id, c.cipher_id, c.client_version, c.offered_versions, c.alpn_offered,
           c.alpn, c.kex_group, c.hello_retry, c.starttls, visible, c.server_certs, c.client_certs,
           c.certificate_request, c.resumed, c.client_hello_seen, c.client_hello_sslv2, c.offered_ciphers,
           c.client_extensions, c.offered_groups, c.client_point_formats, c.offered_sigalgs,
           c.server_legacy_version, c.server_extensions)
    got = _SHARED.get(key)
    if got is None:
        got = (json_line(_middle(c, status, reason, visible)), json_line(_hello(c) + ',"verify":'))
        if len(_SHARED) < _PARTS_MAX:
            _SHARED[key] = got
    return got


def _middle(c: TlsConnection, status: str, reason: str, visible: bool) -> str:
    kex = None if c.kex_group is None else group_name(c.kex_group)
    return "".join((
        ',"status":', _js(status), ',"reason":', _js(reason),
        ',"sni":', _jv(c.sni), ',"version":', _jv(c.version), ',"version_id":', _jv(c.version_id),
        ',"cipher":', _jv(c.cipher), ',"cipher_id":', _jv(c.cipher_id), ',"client_version_id":', _jv(c.client_version),
        ',"offered_versions":', _jlist(c.offered_versions), ',"alpn_offered":', _jlist(c.alpn_offered),
        ',"alpn":', _jv(c.alpn), ',"kex_group":', _jv(kex), ',"hello_retry":', _jv(c.hello_retry),
        ',"starttls":', _jv(c.starttls), ',"certificates_visible":', _jv(visible),
        ',"server_certs":[', ",".join(map(cert_json, c.server_certs)),
        '],"client_certs":[', ",".join(map(cert_json, c.client_certs)),
        '],"certificate_request":', _jv(c.certificate_request),
    ))


def _hello(c: TlsConnection) -> str:
    return "".join(f",{_encode_str(k)}:{_jlist(v) if isinstance(v, list) else _jv(v)}"
                   for k, v in hello_facts(c).items())


def _hello_key(c: TlsConnection) -> tuple[Any, ...]:
    """What :func:`hello_facts` is computed from (``resumed`` stands for its fields)."""
    return (c.resumed, c.client_hello_seen, c.client_version, c.client_hello_sslv2, c.offered_ciphers,
            c.client_extensions, c.offered_groups, c.client_point_formats, c.offered_versions, c.alpn_offered,
            c.offered_sigalgs, c.server_legacy_version, c.cipher_id, c.server_extensions)


@lru_cache(maxsize=1024)
def _alert_tail(sender: str, level: int | None, code: int | None, encrypted: bool) -> str:
    """An alert's JSON after its time and frame."""
    if encrypted:
        return f'"sender":{_js(sender)},"encrypted":true'
    return (f'"sender":{_js(sender)},"level":{_jv(level)},"code":{_jv(code)},'
            f'"description":{_jv(None if code is None else alert_name(code))},'
            f'"title":{_jv(alert_title(code) if code is not None else None)}')


_encode_str = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) writes a str as
_STR_CACHE: dict[str, str] = {}


def _js(s: str) -> str:
    """A str as json.dumps(ensure_ascii=False) writes it; for the strings that repeat across
    connections (server, SNI, suite, reason, ...), encoded once (the cache is bounded)."""
    got = _STR_CACHE.get(s)
    if got is None:
        got = _encode_str(s)
        if len(_STR_CACHE) < 65536 and len(s) < 512:
            _STR_CACHE[s] = got
    return got


def _jf(x: float) -> str:
    """A float as json.dumps writes it (repr; NaN and the infinities by name)."""
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    return float.__repr__(x)


_INF = float("inf")


def _jv(v: Any) -> str:
    """A scalar (None, bool, int, float, str) as json.dumps writes it."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return _js(v)
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        return _jf(v)
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))  # not reached for TlsConnection's fields


def _jlist(values: Any) -> str:
    return "[" + ",".join(map(_jv, values)) + "]"


@lru_cache(maxsize=1024)
def _event_tail(sender: str, htype: int) -> str:
    from ..tls.model import HandshakeEvent

    return f'"sender":{_js(sender)},"message":{_js(HandshakeEvent(0.0, 0, sender, htype).name)}'


def hello_facts(c: TlsConnection) -> dict[str, Any]:
    """The keys issue 14 added: resumption, fingerprints and the hellos' lists (raw, wire order,
    GREASE kept), in the order they are written. The fingerprints are computed once for each
    distinct set of the fields they are made of."""
    key = _hello_key(c)
    prints = _FINGERPRINTS.get(key)
    if prints is None:
        j3, j3s = fp.ja3(c), fp.ja3s(c)
        prints = (j3, fp.md5_of(j3), j3s, fp.md5_of(j3s), fp.ja4(c), fp.ja4_r(c))
        if len(_FINGERPRINTS) < _PARTS_MAX:
            _FINGERPRINTS[key] = prints
    j3, j3_hash, j3s, j3s_hash, ja4, ja4_r = prints
    return {
        "resumed": c.resumed,
        "ja3": j3, "ja3_hash": j3_hash, "ja3s": j3s, "ja3s_hash": j3s_hash,
        "ja4": ja4, "ja4_r": ja4_r,
        "offered_ciphers": list(c.offered_ciphers),
        "offered_extensions": list(c.client_extensions),
        "offered_groups": list(c.offered_groups),
        "offered_sigalgs": list(c.offered_sigalgs),
        "offered_point_formats": list(c.client_point_formats),
        "server_extensions": list(c.server_extensions),
    }


def connection_record(c: TlsConnection, verify: Mapping[str, Any] | None = None,
                      with_verify: bool = False) -> dict[str, Any]:
    """The JSON object for one connection (keys as documented in the README)."""
    rec: dict[str, Any] = {
        "connection": c.id,
        "client_ip": c.client.ip,
        "client_port": c.client.port,
        "server_ip": c.server.ip,
        "server_port": c.server.port,
        "start": c.start,
        "start_utc": iso(c.start),
        "end": c.end,
        "first_frame": c.first_frame,
        "status": c.status,
        "reason": c.reason,
        "sni": c.sni,
        "version": c.version,
        "version_id": c.version_id,
        "cipher": c.cipher,
        "cipher_id": c.cipher_id,
        "client_version_id": c.client_version,
        "offered_versions": list(c.offered_versions),
        "alpn_offered": list(c.alpn_offered),
        "alpn": c.alpn,
        "kex_group": None if c.kex_group is None else group_name(c.kex_group),
        "hello_retry": c.hello_retry,
        "starttls": c.starttls,
        "certificates_visible": not c.is_tls13 or c.handshake_decrypted,
        "server_certs": [cert_record(d) for d in c.server_certs],
        "client_certs": [cert_record(d) for d in c.client_certs],
        "certificate_request": c.certificate_request,
        "alerts": [
            {"time": a.time, "frame": a.frame, "sender": a.sender, "encrypted": True}
            if a.encrypted
            else {"time": a.time, "frame": a.frame, "sender": a.sender, "level": a.level, "code": a.code,
                  "description": a.description, "title": alert_title(a.code) if a.code is not None else None}
            for a in c.alerts
        ],
        "closed_by": c.closed_by,
        "close_kind": c.close_kind,
        "close_frame": c.close_frame,
        "close_time": c.close_time,
        "last_frame": c.last_frame,
        "handshake": [{"time": e.time, "frame": e.frame, "sender": e.sender, "message": e.name} for e in c.handshake],
        "anomalies": [{"kind": a.kind, "detail": a.detail, "time": a.time, "sender": a.sender} for a in c.anomalies],
        **hello_facts(c),
    }
    if with_verify or verify is not None:
        rec["verify"] = None if verify is None else dict(verify)
    return rec


def flatten(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One CSV row: scalars as they are, lists joined, the leaf certificate spread into columns."""
    row: dict[str, Any] = {}
    for k, v in rec.items():
        if k in ("server_certs", "client_certs", "alerts", "handshake", "anomalies", "verify"):
            continue
        row[k] = " ".join(map(str, v)) if isinstance(v, list) else v
    for side in ("server", "client"):
        certs = rec.get(f"{side}_certs") or []
        leaf = certs[0] if certs else {}
        row[f"{side}_chain_sha256"] = " ".join(c["sha256"] for c in certs)
        row[f"{side}_cert_subject"] = leaf.get("subject")
        row[f"{side}_cert_issuer"] = leaf.get("issuer")
        row[f"{side}_cert_san"] = " ".join(leaf.get("san") or [])
        row[f"{side}_cert_not_before"] = leaf.get("not_before")
        row[f"{side}_cert_not_after"] = leaf.get("not_after")
        row[f"{side}_cert_key"] = leaf.get("key")
        row[f"{side}_cert_self_signed"] = leaf.get("self_signed")
    row["alerts"] = "; ".join(
        f"{a['sender']}:encrypted" if a.get("encrypted") else f"{a['sender']}:{'fatal' if a['level'] == 2 else 'warning'}:{a['description']}"
        for a in rec.get("alerts", [])
    )
    v = rec.get("verify")
    if "verify" in rec:
        row["verify_error"] = v.get("error") if v else None
        row["verify_depth"] = v.get("depth") if v else None
        row["verify_message"] = v.get("message") if v else None
        row["verify_name"] = v.get("name") if v else None
    row["anomalies"] = "; ".join(f"{a['kind']}: {a['detail']}" for a in rec.get("anomalies", []))
    return row
