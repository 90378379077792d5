"""TLS session secrets: NSS key log files and pcapng Decryption Secrets Blocks -> :class:`KeyLog`.

The NSS key log format (``SSLKEYLOGFILE``, OpenSSL's keylog callback, Python's
``SSLContext.keylog_filename``) is one secret per line::

    LABEL <client_random: 64 hex digits> <secret: hex>

``CLIENT_RANDOM`` carries a TLS <= 1.2 master secret (48 bytes); the TLS 1.3 labels carry traffic
secrets of the suite's hash length (32 or 48 bytes). Lines are looked up by the ClientHello's
random, so keys for other sessions are simply never used. Anything else (comments, blank lines,
labels not needed here, bad hex, wrong lengths) is counted in :attr:`KeyLog.skipped` by reason
with its line number, never quoted: a key log is a secret, and no output of pcaptls shows one.

:func:`parse` takes the text (no I/O); :func:`load` reads a file; :func:`from_pcapng` reads the
Decryption Secrets Blocks (``editcap --inject-secrets``) at the head of a pcapng capture.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from ..errors import InputError, MalformedError, PcaptlsError

# Labels (https://www.ietf.org/archive/id/draft-ietf-tls-keylogfile-02.html) and secret lengths.
CLIENT_RANDOM = "CLIENT_RANDOM"
CLIENT_EARLY = "CLIENT_EARLY_TRAFFIC_SECRET"
CLIENT_HANDSHAKE = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
SERVER_HANDSHAKE = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
CLIENT_TRAFFIC = "CLIENT_TRAFFIC_SECRET_0"
SERVER_TRAFFIC = "SERVER_TRAFFIC_SECRET_0"
_USED = {CLIENT_RANDOM: (48,), CLIENT_EARLY: (32, 48), CLIENT_HANDSHAKE: (32, 48), SERVER_HANDSHAKE: (32, 48),
         CLIENT_TRAFFIC: (32, 48), SERVER_TRAFFIC: (32, 48)}
# Known, not needed to read handshakes and alerts.
_IGNORED = {"EXPORTER_SECRET", "EARLY_EXPORTER_SECRET", "RSA", "ECH_SECRET", "ECH_CONFIG",
            "CLIENT_TRAFFIC_SECRET_N", "SERVER_TRAFFIC_SECRET_N"}  # _N: OpenSSL after a KeyUpdate; derived here

MAX_LINE = 1024  # a real line is < 250 characters; longer ones are not key log lines
MAX_KEYLOG = 64 << 20  # bytes read from one key log file (a day of browser sessions is a few MB)

# pcapng: Section Header and Decryption Secrets Block types, TLS key log secrets type.
_SHB = 0x0A0D0D0A
_DSB = 0x0000000A
_PACKET_BLOCKS = {2, 3, 6}  # Packet, Simple Packet, Enhanced Packet
_TLS_KEY_LOG = 0x544C534B  # "TLSK"


@dataclass(slots=True)
class KeyLog:
    """Secrets by client random and label; what could not be used, by reason.

    ``repr`` shows counts only: a key log must never reach an output.
    """

    secrets: dict[bytes, dict[str, bytes]] = field(default_factory=dict, repr=False)
    sources: list[str] = field(default_factory=list)
    lines: int = 0
    skipped: dict[str, list[int]] = field(default_factory=dict)  # reason -> line numbers (first 20)
    skipped_count: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"KeyLog({len(self.secrets)} sessions from {len(self.sources)} sources, {self.lines} lines)"

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def get(self, client_random: bytes | None) -> dict[str, bytes]:
        """The secrets logged for the session with this ClientHello random ({} if none)."""
        if client_random is None:
            return {}
        return self.secrets.get(client_random, {})

    def merge(self, other: KeyLog) -> None:
        for cr, d in other.secrets.items():
            self.secrets.setdefault(cr, {}).update(d)
        self.sources += other.sources
        self.lines += other.lines
        for reason, n in other.skipped_count.items():
            self.skipped_count[reason] = self.skipped_count.get(reason, 0) + n
            self.skipped.setdefault(reason, []).extend(other.skipped.get(reason, []))
            del self.skipped[reason][20:]

    def summary(self) -> str:
        """One line for the user: how many sessions, what was skipped (no secret in it)."""
        out = f"key log: {len(self.secrets)} TLS session{'s' if len(self.secrets) != 1 else ''} from {', '.join(self.sources) or '-'}"
        if self.skipped_count:
            parts = []
            for reason, n in sorted(self.skipped_count.items()):
                at = ", ".join(map(str, self.skipped.get(reason, [])[:5]))
                parts.append(f"{n} {reason} (line {at}{', ...' if n > 5 else ''})")
            out += "; skipped: " + "; ".join(parts)
        return out

    def _skip(self, reason: str, line: int) -> None:
        self.skipped_count[reason] = self.skipped_count.get(reason, 0) + 1
        seen = self.skipped.setdefault(reason, [])
        if len(seen) < 20:
            seen.append(line)


def parse(text: str | bytes, source: str = "key log") -> KeyLog:
    """Parse key log text. Never raises on content: bad lines are counted in ``skipped``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    kl = KeyLog(sources=[source])
    for num, raw in enumerate(text.splitlines(), 1):
        kl.lines += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            kl._skip("lines too long", num)
            continue
        parts = line.split()
        if len(parts) != 3:
            kl._skip("lines not of the form LABEL RANDOM SECRET", num)
            continue
        label, cr_hex, secret_hex = parts
        if label in _IGNORED:
            continue
        lengths = _USED.get(label)
        if lengths is None:
            kl._skip("unknown labels", num)
            continue
        try:
            cr = bytes.fromhex(cr_hex)
            secret = bytes.fromhex(secret_hex)
        except ValueError:
            kl._skip("lines with bad hex", num)
            continue
        if len(cr) != 32:
            kl._skip("client randoms not 32 bytes", num)
            continue
        if len(secret) not in lengths:
            kl._skip("secrets of a wrong length", num)
            continue
        kl.secrets.setdefault(cr, {})[label] = secret
    return kl


def load(path: str | os.PathLike[str]) -> KeyLog:
    """Read a key log file. Raises :class:`InputError` when it cannot be read or is binary."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_KEYLOG + 1)
    except FileNotFoundError as e:
        raise InputError(f"{p}: no such file") from e
    except IsADirectoryError as e:
        raise InputError(f"{p}: is a directory, not a key log") from e
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from e
    if len(data) > MAX_KEYLOG:
        raise InputError(f"{p}: larger than {MAX_KEYLOG >> 20} MiB, not a key log")
    if b"\x00" in data[:4096]:
        raise InputError(f"{p}: binary data, not a key log (NSS key log format: LABEL RANDOM SECRET lines)")
    return parse(data, p)


def dsb_secrets(data: bytes) -> tuple[list[bytes], bool]:
    """The TLS key log payloads of the Decryption Secrets Blocks in ``data`` (pcapng bytes from
    the start of the file), read up to the first packet block: DSBs must come before the
    packets they decrypt, and ``editcap --inject-secrets`` puts them right after the section
    header. Returns the payloads and whether a packet block was reached (``False``: ``data``
    ended first, more may follow). Raises :class:`MalformedError` when the blocks do not add up."""
    out: list[bytes] = []
    pos = 0
    order = "<"
    n = len(data)
    while n - pos >= 12:
        btype = struct.unpack_from(order + "I", data, pos)[0]
        if btype == _SHB:
            magic = data[pos + 8 : pos + 12]
            order = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">" if magic == b"\x1a\x2b\x3c\x4d" else ""
            if not order:
                raise MalformedError(f"pcapng section header at {pos}: bad byte-order magic {magic.hex()}")
        blen = struct.unpack_from(order + "I", data, pos + 4)[0]
        if blen < 12 or blen % 4:
            raise MalformedError(f"pcapng block at {pos}: impossible length {blen}")
        if btype in _PACKET_BLOCKS:
            return out, True
        if pos + blen > n:
            break  # the block goes on past what was read
        if btype == _DSB and blen >= 20:
            stype, slen = struct.unpack_from(order + "II", data, pos + 8)
            if stype == _TLS_KEY_LOG:
                if 16 + slen > blen:
                    raise MalformedError(f"pcapng decryption secrets block at {pos}: {slen} bytes of secrets in a {blen}-byte block")
                out.append(bytes(data[pos + 16 : pos + 16 + slen]))
        pos += blen
    return out, False


HEAD_LIMIT = 16 << 20  # how far into a pcapng file its secrets blocks are looked for


def from_capture(path: str | os.PathLike[str]) -> KeyLog:
    """The secrets a pcapng capture carries in Decryption Secrets Blocks (an empty
    :class:`KeyLog` for pcap files and pcapng files without them). Never raises for a file
    that is a capture: damaged blocks are reported in ``skipped``."""
    from ..capture.files import open_capture

    p = os.fspath(path)
    kl = KeyLog()
    try:
        src, kind = open_capture(p)
    except InputError:
        return kl
    try:
        if not kind.endswith("pcapng"):
            return kl
        head = _read_head(src)
    except PcaptlsError:
        return kl
    finally:
        close = getattr(src, "close", None)
        if close:
            close()
    try:
        blobs, _ = dsb_secrets(head)
    except MalformedError:
        kl._skip("damaged pcapng blocks", 0)
        return kl
    for i, blob in enumerate(blobs):
        kl.merge(parse(blob, f"{p} (decryption secrets block {i + 1})"))
    return kl


def _read_head(src: object) -> bytes:
    """The first blocks of a pcapng stream, up to its first packet block or :data:`HEAD_LIMIT`."""
    data = b""
    while len(data) < HEAD_LIMIT:
        b = src.read(min(1 << 16, HEAD_LIMIT - len(data)))  # type: ignore[attr-defined]
        if not b:
            break
        data += b
        try:
            if dsb_secrets(data)[1]:
                break
        except MalformedError:
            break
    return data
