"""TLS record protection, undone: key schedules and record decryption (RFC 8446, RFC 5246).

Sans-IO and stateless: a :class:`RecordCipher` is one direction's keys for one epoch, and
:meth:`RecordCipher.open` takes a record's sequence number, outer content type and body and
returns ``(content_type, plaintext)`` or raises :class:`DecryptError` (authentication failed,
bad padding, a body too short for the suite). The AEADs and AES-CBC are `cryptography`'s;
HKDF-Expand-Label and the TLS 1.2 PRF are a few lines of HMAC over them.

Suites are known by their IANA name (``TLS_<kex>_WITH_<cipher>_<mac>`` for TLS <= 1.2,
``TLS_<cipher>_<hash>`` for TLS 1.3): AES-128/256-GCM, AES-128/256-CCM(_8), ChaCha20-Poly1305
and AES-128/256-CBC with HMAC-SHA1/256/384, the suites OpenSSL offers.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from ..errors import PcaptlsError
from .constants import cipher_name

TLS12 = 0x0303


class DecryptError(PcaptlsError):
    """A record that does not decrypt with the keys given: wrong key, wrong sequence number
    (records lost), or damaged in transit."""


@dataclass(frozen=True, slots=True)
class Suite:
    """What decrypting a cipher suite's records takes."""

    code: int
    tls13: bool
    cipher: str  # "gcm" | "ccm" | "ccm8" | "chacha" | "cbc"
    key_len: int
    hash: str  # PRF / HKDF hash: "sha256" | "sha384"
    mac: str | None  # CBC suites' HMAC hash: "sha1" | "sha256" | "sha384"

    @property
    def hash_len(self) -> int:
        return 48 if self.hash == "sha384" else 32

    @property
    def fixed_iv_len(self) -> int:
        """TLS 1.2 key block IV: 4 bytes salt for GCM/CCM, 12 for ChaCha20, none for CBC."""
        return {"gcm": 4, "ccm": 4, "ccm8": 4, "chacha": 12}.get(self.cipher, 0)

    @property
    def mac_len(self) -> int:
        return {"sha1": 20, "sha256": 32, "sha384": 48}.get(self.mac or "", 0)


_BULK = re.compile(r"^(AES_(128|256)_(GCM|CCM_8|CCM|CBC)|CHACHA20_POLY1305)(?:_(SHA|SHA256|SHA384))?$")


def suite(code: int | None) -> Suite | None:
    """The suite's parameters, or ``None`` when its records cannot be decrypted here."""
    if code is None:
        return None
    name = cipher_name(code)
    if not name.startswith("TLS_"):
        return None
    tls13 = "_WITH_" not in name
    bulk = name[4:] if tls13 else name.split("_WITH_", 1)[1]
    m = _BULK.match(bulk)
    if m is None:
        return None
    if m.group(1) == "CHACHA20_POLY1305":
        cipher, key_len = "chacha", 32
    else:
        key_len = int(m.group(2)) // 8
        cipher = {"GCM": "gcm", "CCM": "ccm", "CCM_8": "ccm8", "CBC": "cbc"}[m.group(3)]
    mac_name = m.group(4)
    if cipher == "cbc":
        if mac_name is None or tls13:
            return None
        mac = {"SHA": "sha1", "SHA256": "sha256", "SHA384": "sha384"}[mac_name]
        return Suite(code, False, cipher, key_len, "sha384" if mac == "sha384" else "sha256", mac)
    # AEAD: the name's hash is the PRF's (CCM suites name none: SHA-256).
    return Suite(code, tls13, cipher, key_len, "sha384" if mac_name == "SHA384" else "sha256", None)


# -- key schedules ---------------------------------------------------------------------------

def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int, hash_name: str) -> bytes:
    """RFC 8446 7.1: HKDF-Expand(secret, HkdfLabel, length), HkdfLabel = length, "tls13 " + label, context."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return out[:length]


def next_traffic_secret(s: Suite, secret: bytes) -> bytes:
    """RFC 8446 7.2: the secret after a KeyUpdate."""
    return hkdf_expand_label(secret, "traffic upd", b"", s.hash_len, s.hash)


def prf12(secret: bytes, label: bytes, seed: bytes, length: int, hash_name: str) -> bytes:
    """RFC 5246 5: P_hash(secret, label + seed)."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:length]


# -- record protection -----------------------------------------------------------------------

class RecordCipher:
    """One direction's record protection for one epoch (the keys; sequence numbers are given)."""

    __slots__ = ("suite", "aead", "iv", "key", "mac_key", "etm")

    def __init__(self, s: Suite, key: bytes, iv: bytes, mac_key: bytes = b"", etm: bool = False) -> None:
        self.suite = s
        self.key = key
        self.iv = iv
        self.mac_key = mac_key
        self.etm = etm
        if s.cipher == "gcm":
            self.aead: AESGCM | AESCCM | ChaCha20Poly1305 | None = AESGCM(key)
        elif s.cipher in ("ccm", "ccm8"):
            self.aead = AESCCM(key, tag_length=8 if s.cipher == "ccm8" else 16)
        elif s.cipher == "chacha":
            self.aead = ChaCha20Poly1305(key)
        else:
            self.aead = None

    @classmethod
    def tls13(cls, s: Suite, secret: bytes) -> RecordCipher:
        """Keys from a TLS 1.3 traffic secret (RFC 8446 7.3)."""
        return cls(s, hkdf_expand_label(secret, "key", b"", s.key_len, s.hash),
                   hkdf_expand_label(secret, "iv", b"", 12, s.hash))

    @property
    def tag_len(self) -> int:
        return 8 if self.suite.cipher == "ccm8" else 16

    def open(self, seq: int, ctype: int, body: bytes) -> tuple[int, bytes]:
        """Decrypt one record: ``(content type, plaintext)``. TLS 1.3: the inner type, padding
        removed. Raises :class:`DecryptError`."""
        if self.suite.tls13:
            return self._open13(seq, body)
        if self.aead is None:
            return ctype, self._open_cbc(seq, ctype, body)
        return ctype, self._open12(seq, ctype, body)

    def _nonce(self, seq: int) -> bytes:
        s = seq.to_bytes(len(self.iv), "big")
        return bytes(a ^ b for a, b in zip(self.iv, s))

    def _open13(self, seq: int, body: bytes) -> tuple[int, bytes]:
        if len(body) < self.tag_len + 1:
            raise DecryptError(f"record of {len(body)} bytes is shorter than its tag")
        aad = b"\x17\x03\x03" + len(body).to_bytes(2, "big")
        try:
            inner = self.aead.decrypt(self._nonce(seq), body, aad)  # type: ignore[union-attr]
        except InvalidTag as e:
            raise DecryptError("authentication failed") from e
        end = len(inner.rstrip(b"\x00"))
        if end == 0:
            raise DecryptError("record holds only padding")
        return inner[end - 1], inner[: end - 1]

    def _open12(self, seq: int, ctype: int, body: bytes) -> bytes:
        explicit = 0 if self.suite.cipher == "chacha" else 8
        plen = len(body) - explicit - self.tag_len
        if plen < 0:
            raise DecryptError(f"record of {len(body)} bytes is shorter than its nonce and tag")
        nonce = self._nonce(seq) if explicit == 0 else self.iv + body[:8]
        aad = seq.to_bytes(8, "big") + bytes([ctype]) + TLS12.to_bytes(2, "big") + plen.to_bytes(2, "big")
        try:
            return self.aead.decrypt(nonce, body[explicit:], aad)  # type: ignore[union-attr]
        except InvalidTag as e:
            raise DecryptError("authentication failed") from e

    def _mac(self, seq: int, ctype: int, data: bytes) -> bytes:
        head = seq.to_bytes(8, "big") + bytes([ctype]) + TLS12.to_bytes(2, "big") + len(data).to_bytes(2, "big")
        return hmac.new(self.mac_key, head + data, self.suite.mac or "sha256").digest()

    def _open_cbc(self, seq: int, ctype: int, body: bytes) -> bytes:
        m = self.suite.mac_len
        if self.etm:  # RFC 7366: MAC over IV + ciphertext, after them
            if len(body) < 32 + m or (len(body) - m) % 16:
                raise DecryptError(f"record of {len(body)} bytes does not fit CBC with encrypt-then-MAC")
            sealed, tag = body[:-m], body[-m:]
            if not hmac.compare_digest(self._mac(seq, ctype, sealed), tag):
                raise DecryptError("authentication failed")
            return self._unpad(self._cbc(sealed))
        if len(body) < 32 or len(body) % 16:
            raise DecryptError(f"record of {len(body)} bytes does not fit CBC")
        plain = self._unpad(self._cbc(body))
        if len(plain) < m:
            raise DecryptError("authentication failed")
        content, tag = plain[: len(plain) - m], plain[len(plain) - m :]
        if not hmac.compare_digest(self._mac(seq, ctype, content), tag):
            raise DecryptError("authentication failed")
        return content

    def _cbc(self, body: bytes) -> bytes:
        d = Cipher(algorithms.AES(self.key), modes.CBC(body[:16])).decryptor()
        return d.update(body[16:]) + d.finalize()

    @staticmethod
    def _unpad(plain: bytes) -> bytes:
        p = plain[-1]
        if p + 1 > len(plain) or plain[-p - 1 :] != bytes([p]) * (p + 1):
            raise DecryptError("bad padding (wrong key)")
        return plain[: -p - 1]


def tls12_ciphers(s: Suite, master: bytes, client_random: bytes, server_random: bytes,
                  etm: bool = False) -> tuple[RecordCipher, RecordCipher]:
    """RFC 5246 6.3: the client's and the server's write protection from the master secret."""
    mk, k, iv = s.mac_len if s.cipher == "cbc" else 0, s.key_len, s.fixed_iv_len
    block = prf12(master, b"key expansion", server_random + client_random, 2 * (mk + k + iv), s.hash)
    parts = []
    pos = 0
    for n in (mk, mk, k, k, iv, iv):
        parts.append(block[pos : pos + n])
        pos += n
    cm, sm, ck, sk, civ, siv = parts
    return RecordCipher(s, ck, civ, cm, etm), RecordCipher(s, sk, siv, sm, etm)

