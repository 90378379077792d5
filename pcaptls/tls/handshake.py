"""Handshake message bodies -> frozen values (RFC 5246, RFC 8446 and the TLS 1.3 drafts).

Each ``parse_*`` takes one complete handshake message body (without its 4-byte header) and
returns a value or raises :class:`MalformedError`/:class:`TruncatedError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import MalformedError, TruncatedError
from .constants import ExtensionType, is_grease
from .reader import Reader

# Plain ints: compared once per extension of every hello.
_SNI = int(ExtensionType.SERVER_NAME)
_ALPN = int(ExtensionType.ALPN)
_VERSIONS = int(ExtensionType.SUPPORTED_VERSIONS)
_GROUPS = int(ExtensionType.SUPPORTED_GROUPS)
_SIGALGS = int(ExtensionType.SIGNATURE_ALGORITHMS)
_POINT_FORMATS = 11  # ec_point_formats (RFC 8422)
_TICKET = 35  # session_ticket (RFC 5077)
_KEY_SHARES = (int(ExtensionType.KEY_SHARE), int(ExtensionType.KEY_SHARE_DRAFT))
_EXT_HEADER = struct.Struct("!HH")

# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


@dataclass(frozen=True, slots=True)
class ClientHello:
    legacy_version: int
    ciphers: tuple[int, ...]
    sni: str | None
    alpn: tuple[str, ...]
    versions: tuple[int, ...]  # supported_versions, GREASE removed
    groups: tuple[int, ...]
    sigalgs: tuple[int, ...]
    extensions: tuple[int, ...]
    sslv2: bool = False
    point_formats: tuple[int, ...] = ()  # ec_point_formats, wire order
    session_id: bytes = b""
    ticket: bool = False  # a non-empty session_ticket extension: the client offers to resume by ticket


@dataclass(frozen=True, slots=True)
class ServerHello:
    legacy_version: int
    version: int  # negotiated: supported_versions when present
    cipher: int
    alpn: str | None
    key_share_group: int | None
    retry_request: bool
    extensions: tuple[int, ...]
    session_id: bytes = b""


def _text(raw: bytes) -> str:
    # Attacker-chosen bytes: decode losslessly for JSON; the report layer escapes for terminals.
    return raw.decode("utf-8", "backslashreplace")


_SHARED: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_SHARED_MAX = 4096
_Tup = TypeVar("_Tup", bound=tuple[Any, ...])


def _shared(t: _Tup) -> _Tup:
    """One copy of each distinct list a client offers: a capture holds thousands of hellos from
    a few client stacks, and every reported connection keeps its lists (ints above 256 and the
    tuple: ~1 KB per connection otherwise)."""
    got = _SHARED.get(t)
    if got is None:
        if len(_SHARED) >= _SHARED_MAX:
            return t
        _SHARED[t] = got = t
    return got  # type: ignore[return-value]  # equal to t, so of its type


def _u16_list(r: Reader, what: str) -> tuple[int, ...]:
    """The rest of ``r`` as big-endian 16-bit values, in one unpack (cipher lists are long)."""
    n = r.remaining
    if n % 2:
        raise MalformedError(f"{what}: odd length {n}")
    values = struct.unpack_from(f"!{n // 2}H", r.buf, r.pos)
    r.pos = r.end
    return values


def _sni(r: Reader) -> str | None:
    names = r.vec16("server_name_list")
    while names.remaining:
        kind = names.u8("name_type")
        value = names.vec16("HostName")
        if kind == 0:
            return _text(value.bytes(value.remaining))
    return None


def _alpn(r: Reader) -> tuple[str, ...]:
    lst = r.vec16("protocol_name_list")
    out = []
    while lst.remaining:
        p = lst.vec8("ProtocolName")
        out.append(_text(p.bytes(p.remaining)))
    return tuple(out)


def _extensions(r: Reader) -> list[tuple[int, int, int]]:
    """``(type, start, end)`` of each extension in ``r``, bounds-checked in one tight loop: a
    hello carries 10-20 extensions and only a few are read, so no reader is made for the rest."""
    buf, p, end = r.buf, r.pos, r.end
    header = _EXT_HEADER.unpack_from
    out = []
    while p < end:
        if end - p < 4:
            raise TruncatedError(f"extension header: need 4 bytes at offset {p}, have {end - p}")
        etype, n = header(buf, p)
        p += 4
        if n > end - p:
            raise TruncatedError(f"extension_data: need {n} bytes at offset {p}, have {end - p}")
        out.append((etype, p, p + n))
        p += n
    r.pos = end
    return out


def parse_client_hello(body: bytes) -> ClientHello:
    r = Reader(body)
    legacy = r.u16("client_version")
    r.skip(32, "random")
    sid = r.vec8("session_id")
    session_id = sid.bytes(sid.remaining)
    ciphers = _u16_list(r.vec16("cipher_suites"), "cipher_suites")
    r.vec8("compression_methods")
    sni = None
    alpn: tuple[str, ...] = ()
    versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    exts: tuple[int, ...] = ()
    points: tuple[int, ...] = ()
    ticket = False
    if r.remaining:  # extensions are optional before TLS 1.0-era clients
        spans = _extensions(r.vec16("extensions"))
        exts = tuple([e[0] for e in spans])
        for etype, a, b in spans:
            if etype == _SNI and b > a:
                sni = _sni(Reader(body, a, b))
            elif etype == _ALPN:
                alpn = _alpn(Reader(body, a, b))
            elif etype == _VERSIONS:
                versions = tuple(v for v in _u16_list(Reader(body, a, b).vec8("versions"), "versions") if not is_grease(v))
            elif etype == _GROUPS:
                groups = _u16_list(Reader(body, a, b).vec16("named_group_list"), "named_group_list")
            elif etype == _SIGALGS:
                sigalgs = _u16_list(Reader(body, a, b).vec16("supported_signature_algorithms"), "signature_algorithms")
            elif etype == _POINT_FORMATS:
                pf = Reader(body, a, b).vec8("ec_point_format_list")
                points = tuple(pf.bytes(pf.remaining))
            elif etype == _TICKET:
                ticket = b > a
    return ClientHello(legacy, _shared(ciphers), sni, _shared(alpn), _shared(versions), _shared(groups),
                       _shared(sigalgs), _shared(exts), False, _shared(points), session_id, ticket)


def parse_sslv2_client_hello(msg: bytes) -> ClientHello:
    """SSLv2-compatible ClientHello (RFC 5246 appendix E.2); ``msg`` starts at msg_type."""
    r = Reader(msg)
    if r.u8("msg_type") != 1:
        raise MalformedError("SSLv2 record is not a CLIENT-HELLO")
    version = r.u16("version")
    spec_len = r.u16("cipher_spec_length")
    sid_len = r.u16("session_id_length")
    chal_len = r.u16("challenge_length")
    if spec_len % 3:
        raise MalformedError("SSLv2 cipher spec length not a multiple of 3")
    specs = r.sub(spec_len, "cipher_specs")
    r.skip(sid_len, "session_id")
    r.skip(chal_len, "challenge")
    ciphers = []
    while specs.remaining:
        hi = specs.u8()
        lo = specs.u16()
        ciphers.append((hi << 16) | lo)  # SSLv2 kinds keep their 3-byte code; TLS ones have hi == 0
    return ClientHello(version, tuple(ciphers), None, (), (), (), (), (), sslv2=True)


def parse_server_hello(body: bytes) -> ServerHello:
    r = Reader(body)
    legacy = r.u16("server_version")
    random = r.bytes(32, "random")
    # TLS 1.3 drafts before -22 dropped session_id and compression from the ServerHello. The
    # earliest ones put 0x0304 itself in this field (RFC 8446 fixes it at 0x0303), same layout.
    draft = ((legacy >> 8) == 0x7F and (legacy & 0xFF) < 22) or legacy == 0x0304
    session_id = b""
    if not draft:
        sid = r.vec8("session_id")
        session_id = sid.bytes(sid.remaining)
    cipher = r.u16("cipher_suite")
    if not draft:
        r.u8("compression_method")
    version = legacy
    alpn = None
    group = None
    exts: list[int] = []
    if r.remaining:
        for etype, a, b in _extensions(r.vec16("extensions")):
            exts.append(etype)
            if etype == _VERSIONS and b - a == 2:
                version = (body[a] << 8) | body[a + 1]
            elif etype == _ALPN and b > a:
                names = _alpn(Reader(body, a, b))
                alpn = names[0] if names else None
            elif etype in _KEY_SHARES and b - a >= 2:
                group = (body[a] << 8) | body[a + 1]
    return ServerHello(legacy, version, cipher, alpn, group, random == HRR_RANDOM, _shared(tuple(exts)), session_id)


def parse_certificate(body: bytes, tls13: bool) -> tuple[bytes, ...]:
    """DER certificates in wire order (leaf first). TLS 1.3 adds a context and per-entry extensions."""
    r = Reader(body)
    if tls13:
        r.vec8("certificate_request_context")
    lst = r.vec24("certificate_list")
    out = []
    while lst.remaining:
        out.append(_cert(lst))
        if tls13:
            lst.vec16("extensions")
    return _shared(tuple(out))  # a server sends the same chain every time


def _cert(r: Reader) -> bytes:
    n = r.u24("cert_length")
    return r.bytes(n, "ASN.1Cert")


def parse_server_key_exchange_group(body: bytes) -> int | None:
    """The named curve of an ECDHE ServerKeyExchange (curve_type 3), else ``None`` (DHE, RSA)."""
    if len(body) >= 3 and body[0] == 3:
        return (body[1] << 8) | body[2]
    return None
