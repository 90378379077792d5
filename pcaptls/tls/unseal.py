"""A finished connection + a key log -> the same connection, its encrypted handshake read.

:func:`unseal` decrypts what the engines kept (:mod:`pcaptls.tls.sealed`) with the session's
secrets (:mod:`pcaptls.tls.keylog`) and fills the fields a plaintext handshake fills, so that
verdicts, findings, the timeline and ``certs --export`` treat both alike:

- TLS 1.3: EncryptedExtensions (ALPN), CertificateRequest, Certificate and CompressedCertificate
  (server and client), CertificateVerify, Finished, EndOfEarlyData, NewSessionTicket and KeyUpdate
  become handshake events and facts; alerts (close_notify, a client's ``unknown_ca``) join the
  alerts. The client's 0-RTT records are passed over (reported), application data is never
  decrypted beyond small records (alerts and KeyUpdates hide among them).
- TLS 1.2: the Finished messages, a renegotiation's messages and the encrypted alerts (which
  gain their level and description).

Without secrets for the session the connection is returned as the engines reported it. A
record that does not authenticate is an ``decrypt`` anomaly (wrong key, or records lost), never
an exception; no key material appears in any text made here.
"""

from __future__ import annotations

import zlib
from dataclasses import replace

from ..errors import MalformedError
from ..tcp.facts import Anomaly
from . import handshake as hs
from . import keylog as kl
from .decrypt import DecryptError, RecordCipher, Suite, next_traffic_secret, suite, tls12_ciphers
from .model import Alert, HandshakeEvent, TlsConnection
from .reader import Reader
from .records import MAX_HANDSHAKE
from .sealed import SMALL, SealedRecord

_ALERT, _HANDSHAKE = 21, 22
_EOED, _EE, _CERT, _CR, _FINISHED, _KEY_UPDATE, _COMPRESSED_CERT = 5, 8, 11, 13, 20, 24, 25
_EXT_ALPN, _EXT_EARLY_DATA, _EXT_ETM = 16, 42, 22


class _Found:
    """What decryption taught about a connection, to be merged into it."""

    def __init__(self) -> None:
        self.events: list[HandshakeEvent] = []
        self.alerts: list[Alert] = []  # TLS 1.3: alerts not seen before
        # TLS 1.2: (frame, level, code) of each decrypted alert record, by sender, in order.
        self.opened: dict[str, list[tuple[int, int, int]]] = {"client": [], "server": []}
        self.chains: dict[str, tuple[bytes, ...]] = {}
        self.cert_request = False
        self.alpn: str | None = None
        self.early_accepted = False
        self.anomalies: list[Anomaly] = []

    def anomaly(self, detail: str, rec: SealedRecord | None, kind: str = "decrypt") -> None:
        self.anomalies.append(Anomaly(kind, detail, None if rec is None else rec.time,
                                      None if rec is None else rec.sender))


class _Messages:
    """Handshake messages across decrypted records of one direction (and epoch)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.dead = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        if self.dead:
            return []
        self.buf += data
        out: list[tuple[int, bytes]] = []
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 4:
            n = int.from_bytes(buf[pos + 1 : pos + 4], "big")
            if n > MAX_HANDSHAKE:
                self.dead = True
                buf.clear()
                return out
            if len(buf) - pos - 4 < n:
                break
            out.append((buf[pos], bytes(buf[pos + 4 : pos + 4 + n])))
            pos += 4 + n
        del buf[:pos]
        return out


def unseal(c: TlsConnection, keys: kl.KeyLog) -> TlsConnection:
    """``c`` with what its encrypted records say (see the module), and without the carry."""
    sealed = c.sealed
    if sealed is None:
        return c
    plain = replace(c, sealed=None)
    secrets = keys.get(sealed.client_random)
    if not secrets:
        return plain
    s = suite(c.cipher_id)
    found = _Found()
    by_sender: dict[str, list[SealedRecord]] = {"client": [], "server": []}
    for r in sealed.records:
        by_sender[r.sender].append(r)
    if c.is_tls13:
        if c.version_id != 0x0304:
            found.anomaly(f"records of {c.version} (a draft) are not decrypted", None)
        elif s is None or not s.tls13:
            found.anomaly(f"records of cipher suite {c.cipher} are not decrypted (not supported)", None)
        else:
            for sender in ("server", "client"):
                _walk13(sender, by_sender[sender], s, secrets, found)
    else:
        master = secrets.get(kl.CLIENT_RANDOM)
        if master is None:
            return plain
        if c.version_id != 0x0303:
            found.anomaly(f"records of {c.version} are not decrypted (TLS 1.2 only)", None)
        elif s is None or s.tls13:
            found.anomaly(f"records of cipher suite {c.cipher} are not decrypted (not supported)", None)
        elif sealed.server_hello is None or len(sealed.server_hello) < 34 or sealed.client_random is None:
            found.anomaly("the ServerHello was not seen: its random is needed to decrypt", None)
        else:
            try:
                etm = _EXT_ETM in hs.parse_server_hello(sealed.server_hello).extensions
            except MalformedError:
                etm = False
            ciphers = tls12_ciphers(s, master, sealed.client_random, sealed.server_hello[2:34], etm)
            for sender, cipher in (("client", ciphers[0]), ("server", ciphers[1])):
                _walk12(sender, by_sender[sender], cipher, found)
    return _merge(plain, found)


# -- TLS 1.3 ---------------------------------------------------------------------------------

def _walk13(sender: str, recs: list[SealedRecord], s: Suite, secrets: dict[str, bytes], found: _Found) -> None:
    """One direction: handshake epoch, then application epoch (KeyUpdates followed)."""
    client = sender == "client"
    hs_secret = secrets.get(kl.CLIENT_HANDSHAKE if client else kl.SERVER_HANDSHAKE)
    app_secret = secrets.get(kl.CLIENT_TRAFFIC if client else kl.SERVER_TRAFFIC)
    early_secret = secrets.get(kl.CLIENT_EARLY) if client else None
    if not recs or hs_secret is None:
        return
    hs_cipher = RecordCipher.tls13(s, hs_secret)
    early = RecordCipher.tls13(s, early_secret) if early_secret is not None and len(early_secret) == s.hash_len else None
    msgs = _Messages()
    epoch = "hs"  # "hs" | "app"
    # Ordinal of the epoch's first record (its sequence number 0). The server's handshake epoch
    # starts with its first protected record; the client's may follow 0-RTT records (early
    # keys): it starts at the first record that opens at sequence 0 under the handshake key.
    start: int | None = None if client else 0
    cipher: RecordCipher | None = hs_cipher
    secret = app_secret
    early_records = 0
    for rec in recs:
        if start is None:
            try:
                ctype, data = hs_cipher.open(0, 23, rec.body)
                start = rec.seq
            except DecryptError:
                early_records += 1
                if early is not None:
                    try:
                        ctype, data = early.open(rec.seq, 23, rec.body)
                    except DecryptError:
                        continue
                    if ctype == _HANDSHAKE:
                        for htype, _body in msgs.feed(data):  # EndOfEarlyData
                            found.events.append(HandshakeEvent(rec.time, rec.frame, sender, htype))
                        msgs = _Messages()
                continue
        elif cipher is None or (epoch == "app" and len(rec.body) > SMALL):
            continue  # application data: not opened (alerts and KeyUpdates are small)
        else:
            try:
                ctype, data = cipher.open(rec.seq - start, 23, rec.body)
            except DecryptError:
                if epoch == "hs" and rec.seq == start:
                    found.anomaly(f"the {sender}'s encrypted handshake does not decrypt with the key log's "
                                  f"{sender} handshake traffic secret (authentication failed): wrong key, or records lost",
                                  rec)
                else:
                    what = "handshake" if epoch == "hs" else "application"
                    found.anomaly(f"the {sender}'s {what} records stop decrypting at record {rec.seq - start} of the "
                                  "epoch (authentication failed): wrong key, a KeyUpdate not kept, or records lost", rec)
                return
        switch = None
        if ctype == _HANDSHAKE:
            for htype, body in msgs.feed(data):
                found.events.append(HandshakeEvent(rec.time, rec.frame, sender, htype))
                _fact13(sender, htype, body, rec, found)
                if htype == _FINISHED and epoch == "hs":
                    switch = "app"
                elif htype == _KEY_UPDATE and epoch == "app":
                    switch = "update"
        elif ctype == _ALERT:
            _alert(sender, data, rec, found, True)
        if switch is not None:
            # RFC 8446 5.1: a key change falls on a record boundary; the next record is seq 0.
            if switch == "update" and secret is not None:
                secret = next_traffic_secret(s, secret)
            epoch = "app"
            msgs = _Messages()
            cipher = RecordCipher.tls13(s, secret) if secret is not None and len(secret) == s.hash_len else None
            start = rec.seq + 1
    if start is None:
        found.anomaly(f"the {sender}'s encrypted handshake does not decrypt with the key log's {sender} handshake "
                      "traffic secret (authentication failed): wrong key, or records lost", recs[0])
    elif early_records:
        found.anomaly(f"the client sent {early_records} 0-RTT record{'s' if early_records != 1 else ''} "
                      f"(early data{', accepted by the server' if found.early_accepted else ''}); not decrypted",
                      recs[0], "early_data")


def _fact13(sender: str, htype: int, body: bytes, rec: SealedRecord, found: _Found) -> None:
    try:
        if htype == _EE:
            _encrypted_extensions(body, found)
        elif htype == _CR and sender == "server":
            found.cert_request = True
        elif htype == _CERT:
            _chain(sender, hs.parse_certificate(body, True), found)
        elif htype == _COMPRESSED_CERT:
            _chain(sender, hs.parse_certificate(_decompress(body), True), found)
    except MalformedError as e:
        found.anomaly(f"decrypted {_name(htype)}: {e}", rec, "malformed")


def _encrypted_extensions(body: bytes, found: _Found) -> None:
    r = Reader(body)
    exts = r.vec16("extensions")
    while exts.remaining:
        etype = exts.u16("extension_type")
        data = exts.vec16("extension_data")
        if etype == _EXT_ALPN:
            lst = data.vec16("protocol_name_list")
            p = lst.vec8("ProtocolName")
            found.alpn = p.bytes(p.remaining).decode("utf-8", "backslashreplace")
        elif etype == _EXT_EARLY_DATA:
            found.early_accepted = True


def _decompress(body: bytes) -> bytes:
    """RFC 8879 CompressedCertificate -> the Certificate message body it stands for."""
    r = Reader(body)
    alg = r.u16("algorithm")
    size = r.u24("uncompressed_length")
    data = r.vec24("compressed_certificate_message")
    raw = data.bytes(data.remaining)
    if size > MAX_HANDSHAKE:
        raise MalformedError(f"uncompressed length {size} beyond {MAX_HANDSHAKE}")
    try:
        if alg == 1:
            d = zlib.decompressobj()
            out = d.decompress(raw, size + 1)
        elif alg == 2:
            try:
                import brotli
            except ImportError:
                raise MalformedError("brotli-compressed certificate: the brotli module is not installed") from None
            out = brotli.decompress(raw)
        elif alg == 3:
            try:
                from compression import zstd  # Python 3.14
            except ImportError:
                raise MalformedError("zstd-compressed certificate: no zstd module in this Python") from None
            out = zstd.decompress(raw)
        else:
            raise MalformedError(f"unknown certificate compression algorithm {alg}")
    except MalformedError:
        raise
    except Exception as e:  # the decompressors' own errors: damaged data
        raise MalformedError(f"certificate does not decompress: {e}") from e
    if len(out) != size:
        raise MalformedError(f"decompressed to {len(out)} bytes, {size} announced")
    return out


# -- TLS 1.2 ---------------------------------------------------------------------------------

def _walk12(sender: str, recs: list[SealedRecord], cipher: RecordCipher, found: _Found) -> None:
    msgs = _Messages()
    for i, rec in enumerate(recs):
        try:
            ctype, data = cipher.open(rec.seq, rec.type, rec.body)
        except DecryptError:
            first = "Finished" if i == 0 else f"record {rec.seq} after ChangeCipherSpec"
            found.anomaly(f"the {sender}'s encrypted {first} does not decrypt with the key log's master secret "
                          "(authentication failed): wrong key, or records lost", rec)
            return
        if ctype == _HANDSHAKE:
            for htype, body in msgs.feed(data):
                found.events.append(HandshakeEvent(rec.time, rec.frame, sender, htype))
                try:
                    if htype == _CERT:
                        _chain(sender, hs.parse_certificate(body, False), found)
                    elif htype == _CR and sender == "server":
                        found.cert_request = True
                except MalformedError as e:
                    found.anomaly(f"decrypted {_name(htype)}: {e}", rec, "malformed")
        elif ctype == _ALERT:
            _alert(sender, data, rec, found, False)


# -- common ----------------------------------------------------------------------------------

def _alert(sender: str, data: bytes, rec: SealedRecord, found: _Found, new: bool) -> None:
    if len(data) != 2:
        found.anomaly(f"decrypted alert of {len(data)} bytes (2 expected)", rec, "malformed")
        return
    if new:
        found.alerts.append(Alert(rec.time, rec.frame, sender, data[0], data[1], False))
    else:
        found.opened[sender].append((rec.frame, data[0], data[1]))


def _chain(sender: str, chain: tuple[bytes, ...], found: _Found) -> None:
    if chain and sender not in found.chains:
        found.chains[sender] = chain


def _name(htype: int) -> str:
    from .constants import handshake_name

    return handshake_name(htype)


def _merge(c: TlsConnection, f: _Found) -> TlsConnection:
    alerts = list(c.alerts)
    # TLS 1.2: the k-th encrypted alert of a sender is its k-th decrypted alert record when all
    # were kept; otherwise (a flood beyond the caps) an alert is matched by its frame.
    for sender, opened in f.opened.items():
        sealed = [i for i, a in enumerate(alerts) if a.encrypted and a.sender == sender]
        if not opened or not sealed:
            continue
        if len(opened) == len(sealed):
            pairs = list(zip(sealed, opened))
        else:
            pairs = []
            free = list(opened)
            for i in sealed:
                m = next((o for o in free if o[0] == alerts[i].frame), None)
                if m is not None:
                    free.remove(m)
                    pairs.append((i, m))
        for i, (_frame, level, code) in pairs:
            a = alerts[i]
            alerts[i] = Alert(a.time, a.frame, a.sender, level, code, False)
    if f.alerts:
        alerts = sorted(alerts + f.alerts, key=lambda a: (a.frame, a.time))
    events = c.handshake
    if f.events:
        events = tuple(sorted(c.handshake + tuple(f.events), key=lambda e: e.frame))
    return replace(
        c,
        server_certs=c.server_certs or f.chains.get("server", ()),
        client_certs=c.client_certs or f.chains.get("client", ()),
        certificate_request=c.certificate_request or f.cert_request,
        alpn=c.alpn if c.alpn is not None else f.alpn,
        alerts=tuple(alerts),
        handshake=events,
        anomalies=c.anomalies + tuple(f.anomalies),
    )
