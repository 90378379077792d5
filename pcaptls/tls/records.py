"""One direction of a TCP stream -> TLS records -> handshake messages, alerts, CCS.

:class:`RecordReader` is fed the direction's in-order bytes (and told about gaps) by the TCP
stage. It finds where TLS starts (at the first byte, after a STARTTLS exchange, or, for a
capture that starts mid-connection or after lost data, by resynchronising on record headers),
reassembles handshake messages across records, and reports what it finds to a listener.

Memory is bounded: record bodies that are not needed (application data, encrypted records)
are skipped without buffering; a handshake message may grow to :data:`MAX_HANDSHAKE` bytes,
plaintext before TLS is scanned up to :data:`DETECT_LIMIT` bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .sealed import SealedLog

MAX_RECORD = (1 << 14) + 2048  # RFC 5246 6.2.3: ciphertext may exceed 2^14 by 2048
MAX_HANDSHAKE = 1 << 19  # 512 KiB: far above real certificate chains, small enough to bound memory
DETECT_LIMIT = 1 << 16  # plaintext scanned for the start of TLS before giving up on a direction

CT_CCS = 20
CT_ALERT = 21
CT_HANDSHAKE = 22
CT_APPDATA = 23
CT_HEARTBEAT = 24

# Reader states
DETECT = 0  # looking for the first TLS record (stream start, STARTTLS)
RECORDS = 1  # in sync on record boundaries
RESYNC = 2  # lost the boundary (gap, garbage): looking for a plausible record header
IGNORE = 3  # not TLS, or given up: drop everything
SSLV2 = 4  # an SSL 2.0 session: 2- or 3-byte record headers


class Listener(Protocol):
    def on_tls_start(self, side: int, offset: int, plaintext: bytes, t: float) -> None: ...
    def on_handshake(self, side: int, htype: int, body: bytes, t: float, frame: int) -> None: ...
    def on_sslv2(self, side: int, msg: bytes, t: float, frame: int) -> None: ...
    def on_ccs(self, side: int, t: float, frame: int) -> None: ...
    def on_alert(self, side: int, level: int | None, code: int | None, t: float, frame: int) -> None: ...
    def on_appdata(self, side: int, t: float, frame: int) -> None: ...
    def on_anomaly(self, side: int, kind: str, detail: str, t: float | None) -> None: ...


def _plausible_start(b: bytes | bytearray, i: int, strict: bool) -> bool:
    """Is there a TLS record header at ``b[i]``?

    ``strict``: only a handshake record holding a ClientHello or ServerHello (how TLS starts on
    a fresh stream or after STARTTLS). Otherwise any record type, as when resynchronising.
    """
    n = len(b)
    if n - i < 5:
        return False
    ct = b[i]
    if b[i + 1] != 3 or b[i + 2] > 4:
        return False
    ln = (b[i + 3] << 8) | b[i + 4]
    if ln == 0 or ln > MAX_RECORD:
        return False
    if strict:
        if ct != CT_HANDSHAKE or n - i < 6 or b[i + 5] not in (1, 2):
            return False
        if n - i >= 9:
            hlen = (b[i + 6] << 16) | (b[i + 7] << 8) | b[i + 8]
            # Shorter than the fixed fields of a hello: not one. (A huge claimed length is still
            # TLS, and is reported as capped rather than ignored.)
            if hlen < 38:
                return False
            if n - i >= 11 and b[i + 9] not in (2, 3, 0x7F, 0xFE):
                return False
        return True
    if ct < CT_CCS or ct > CT_HEARTBEAT:
        return False
    nxt = i + 5 + ln
    if n - nxt >= 3:  # confirm with the following header when it is there
        return CT_CCS <= b[nxt] <= CT_HEARTBEAT and b[nxt + 1] == 3 and b[nxt + 2] <= 4
    return True


def _sslv2_hello(b: bytes | bytearray) -> bool:
    """SSLv2-compatible ClientHello (2-byte header, msg type 1) or SSLv2 ServerHello (type 4)."""
    if len(b) < 5 or not (b[0] & 0x80):
        return False
    ln = ((b[0] & 0x7F) << 8) | b[1]
    if ln < 9:
        return False
    if b[2] == 1:
        return (b[3] == 0 and b[4] == 2) or (b[3] == 3 and b[4] <= 4)
    if b[2] == 4 and len(b) >= 7:
        return b[5] == 0 and b[6] == 2
    return False


class RecordReader:
    """TLS record layer for one direction of one connection."""

    __slots__ = (
        "side", "listener", "state", "buf", "skip", "hs", "hs_dead", "encrypted", "tls13",
        "detected", "scanned", "strict", "cipher_started_at", "records", "sealer",
    )

    def __init__(self, side: int, listener: Listener, midstream: bool = False) -> None:
        self.side = side
        self.listener = listener
        self.state = RESYNC if midstream else DETECT
        self.buf = bytearray()
        self.skip = 0  # bytes of the current record body still to pass over unbuffered
        self.hs = bytearray()  # handshake-layer bytes not yet forming a whole message
        self.hs_dead = False  # a message exceeded the cap or was lost: stop collecting
        self.encrypted = False  # after this side's ChangeCipherSpec (TLS <= 1.2)
        self.tls13 = False  # set by the session once a TLS 1.3 ServerHello is seen
        self.detected = False
        self.scanned = 0
        self.strict = not midstream
        self.records = 0
        # The connection's copier of encrypted records (pcaptls.tls.sealed) when keys are to be
        # tried; None otherwise (the usual case: bodies are passed over, not copied).
        self.sealer: SealedLog | None = None

    # -- input -----------------------------------------------------------------------------
    def data(self, chunk: bytes, t: float, frame: int) -> None:
        """Feed in-order bytes that arrived in ``frame`` at time ``t``."""
        skip = self.skip
        if skip:
            n = len(chunk)
            if n <= skip:  # hot path: inside an application-data record
                self.skip = skip - n
                if self.sealer is not None and self.sealer.copying(self.side):
                    self.sealer.body(self.side, chunk, t, frame)
                return
            if self.sealer is not None and self.sealer.copying(self.side):
                self.sealer.body(self.side, chunk[:skip], t, frame)
            chunk = chunk[skip:]
            self.skip = 0
        state = self.state
        if state == RECORDS:
            self.buf += chunk
            head = self._records(t, frame)
            if head is not None:
                self._find(head, t, frame)
        elif state == IGNORE:
            return
        elif state == SSLV2:
            self.buf += chunk
            if len(self.buf) > MAX_RECORD * 2:
                self.buf.clear()
            self._sslv2_records(t, frame)
        else:
            self._find(chunk, t, frame)

    def gap(self, nbytes: int, t: float | None) -> None:
        """``nbytes`` of this direction were not captured."""
        if self.state == IGNORE:
            return
        if self.skip >= nbytes:  # the hole is inside a record we were skipping anyway
            self.skip -= nbytes
            if self.sealer is not None:
                self.sealer.lost(self.side, False)
            return
        if self.sealer is not None:
            self.sealer.lost(self.side, True)
        if self.state == RECORDS or self.detected:
            self.listener.on_anomaly(self.side, "gap", f"{nbytes} bytes not captured; resynchronising on the next record", t)
            if self.hs:
                self.listener.on_anomaly(self.side, "lost_handshake", "a handshake message was cut by the gap", t)
        self.skip = 0
        self.buf.clear()
        self.hs.clear()
        if self.state == RECORDS:
            self.state = RESYNC
        self.strict = False if self.detected else self.strict

    # -- finding TLS -----------------------------------------------------------------------
    def _find(self, chunk: bytes, t: float, frame: int) -> None:
        """Search ``chunk`` for the start of TLS, read records from there, and search again
        after each desync. A loop, not mutual recursion: a hostile run of bad headers in one
        chunk would otherwise exhaust Python's stack."""
        while self._search(chunk, t, frame):
            head = self._records(t, frame)
            if head is None:
                return
            chunk = head

    def _search(self, chunk: bytes, t: float, frame: int) -> bool:
        """Look for where TLS starts; ``True``: found, the records from there are to be read."""
        buf = self.buf
        start = len(buf)
        buf += chunk
        strict = self.state == DETECT and self.strict
        if strict and self.scanned == 0:
            if _sslv2_hello(buf):
                return self._sslv2(t, frame)
            # The peer already speaks TLS: this side may answer with any record (an alert).
            if getattr(self.listener, "tls", False) and _plausible_start(buf, 0, False):
                self._start(0, t)
                return True
        # A header may straddle the previous chunk's end, or be one we waited on: look back.
        i = max(0, start - 10)
        find = buf.find
        while True:
            i = find(b"\x03", i + 1)  # the version's major byte; the content type sits before it
            if i < 0:
                break
            j = i - 1
            if _plausible_start(buf, j, strict):
                if len(buf) - j < 11 and strict:
                    return False  # not enough to judge yet; wait for more bytes
                self._start(j, t)
                return True
        self.scanned += len(chunk)
        if self.state == DETECT and self.scanned > DETECT_LIMIT:
            self.state = IGNORE
            buf.clear()
            return False
        # Keep only what may hold the start of a header; remember plaintext for STARTTLS naming.
        if self.state == RESYNC:
            del buf[: max(0, len(buf) - 4)]
        elif len(buf) > DETECT_LIMIT:
            del buf[: len(buf) - DETECT_LIMIT]
        return False

    def _start(self, offset: int, t: float) -> None:
        if self.state == DETECT:
            self.listener.on_tls_start(self.side, offset, bytes(self.buf[:offset]), t)
        elif self.detected:
            self.listener.on_anomaly(self.side, "resync", "resynchronised on a record header", t)
        else:
            self.listener.on_tls_start(self.side, -1, b"", t)
        self.detected = True
        del self.buf[:offset]
        self.state = RECORDS

    def _sslv2(self, t: float, frame: int) -> bool:
        """An SSLv2-framed hello; ``True`` when TLS records follow it (to be read)."""
        buf = self.buf
        ln = ((buf[0] & 0x7F) << 8) | buf[1]
        if len(buf) < 2 + ln:
            return False  # wait for the whole hello
        self.listener.on_tls_start(self.side, 0, b"", t)
        self.detected = True
        # A real SSL 2.0 peer (version 0x0002, or any SERVER-HELLO) goes on in SSLv2 records;
        # a TLS client that only wrapped its hello in SSLv2 goes on with TLS records.
        v2 = buf[2] == 4 or (buf[3] == 0 and buf[4] == 2)
        self.state = SSLV2 if v2 else RECORDS
        if v2:
            self._sslv2_records(t, frame)
            return False
        self.listener.on_sslv2(self.side, bytes(buf[2 : 2 + ln]), t, frame)
        del buf[: 2 + ln]
        return True

    def _sslv2_records(self, t: float, frame: int) -> None:
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 3:
            if buf[pos] & 0x80:
                ln = ((buf[pos] & 0x7F) << 8) | buf[pos + 1]
                hdr = 2
            else:
                ln = ((buf[pos] & 0x3F) << 8) | buf[pos + 1]
                hdr = 3
            if n - pos - hdr < ln:
                break
            if self.records < 2:  # hellos and master key come first, in clear; then encrypted
                self.listener.on_sslv2(self.side, bytes(buf[pos + hdr : pos + hdr + ln]), t, frame)
            self.records += 1
            pos += hdr + ln
        if pos:
            del buf[:pos]

    # -- records ---------------------------------------------------------------------------
    def _records(self, t: float, frame: int) -> bytes | None:
        """Read the whole records in ``buf``. On bytes that are no record header, returns what
        follows the bad byte, to search again for a header (see :meth:`_find`)."""
        buf = self.buf
        pos = 0
        n = len(buf)
        listener = self.listener
        side = self.side
        while n - pos >= 5:
            ct = buf[pos]
            ln = (buf[pos + 3] << 8) | buf[pos + 4]
            if ct < CT_CCS or ct > CT_HEARTBEAT or buf[pos + 1] != 3 or ln > MAX_RECORD:
                listener.on_anomaly(side, "desync", f"bytes {buf[pos:pos + 5].hex()} are not a TLS record header", t)
                del buf[:pos]
                self.state = RESYNC
                self.hs.clear()
                head = bytes(buf[1:])
                buf.clear()
                return head or None
            body_at = pos + 5
            have = n - body_at
            self.records += 1
            sealed = self.encrypted and not self.tls13
            if ct == CT_APPDATA or ct == CT_HEARTBEAT or (ct == CT_HANDSHAKE and sealed) or (
                    ct == CT_ALERT and (ln != 2 or sealed)):
                # Only the header matters: the body is passed over without being buffered.
                if ct == CT_APPDATA:
                    listener.on_appdata(side, t, frame)
                elif ct == CT_HEARTBEAT:
                    listener.on_anomaly(side, "heartbeat", f"heartbeat record of {ln} bytes", t)
                elif ct == CT_ALERT:
                    listener.on_alert(side, None, None, t, frame)
                if self.sealer is not None and self.sealer.record(side, ct, ln):
                    self.sealer.body(side, buf[body_at : body_at + min(have, ln)], t, frame)
                if have < ln:
                    self.skip = ln - have
                    pos = n
                    break
                pos = body_at + ln
                continue
            if have < ln:
                if ct == CT_HANDSHAKE and not self.hs_dead and len(self.hs) + ln > MAX_HANDSHAKE:
                    self._cap(t)
                break
            body = bytes(buf[body_at : body_at + ln])
            pos = body_at + ln
            if ct == CT_HANDSHAKE:
                self._handshake(body, t, frame)
            elif ct == CT_ALERT:
                listener.on_alert(side, body[0], body[1], t, frame)
            elif ct == CT_CCS:
                if not self.tls13:
                    self.encrypted = True
                listener.on_ccs(side, t, frame)
        if pos:
            del buf[:pos]
        return None

    def _cap(self, t: float) -> None:
        self.hs_dead = True
        self.hs.clear()
        self.listener.on_anomaly(self.side, "cap", f"handshake data beyond {MAX_HANDSHAKE} bytes not kept", t)

    def _handshake(self, body: bytes, t: float, frame: int) -> None:
        if self.hs_dead:
            return
        hs = self.hs
        if hs:
            hs += body
            data: bytes | bytearray = hs
        else:
            data = body
        pos = 0
        n = len(data)
        while n - pos >= 4:
            htype = data[pos]
            hlen = (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
            if hlen > MAX_HANDSHAKE:
                self._cap(t)
                return
            if n - pos - 4 < hlen:
                break
            msg = bytes(data[pos + 4 : pos + 4 + hlen])
            pos += 4 + hlen
            self.listener.on_handshake(self.side, htype, msg, t, frame)
        if data is hs:
            del hs[:pos]
        else:
            hs += data[pos:]
