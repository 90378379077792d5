"""TLS code points named as in the RFCs and IANA registries. Unknown codes stay ints."""

from __future__ import annotations

from enum import IntEnum

from ._ciphers import CIPHER_SUITES


class ContentType(IntEnum):
    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24


class HandshakeType(IntEnum):
    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    HELLO_VERIFY_REQUEST = 3
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5
    HELLO_RETRY_REQUEST = 6  # TLS 1.3 drafts only
    ENCRYPTED_EXTENSIONS = 8
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14
    CERTIFICATE_VERIFY = 15
    CLIENT_KEY_EXCHANGE = 16
    FINISHED = 20
    CERTIFICATE_URL = 21
    CERTIFICATE_STATUS = 22
    SUPPLEMENTAL_DATA = 23
    KEY_UPDATE = 24
    MESSAGE_HASH = 254


_HANDSHAKE_NAMES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 3: "HelloVerifyRequest",
    4: "NewSessionTicket", 5: "EndOfEarlyData", 6: "HelloRetryRequest", 8: "EncryptedExtensions",
    11: "Certificate", 12: "ServerKeyExchange", 13: "CertificateRequest", 14: "ServerHelloDone",
    15: "CertificateVerify", 16: "ClientKeyExchange", 20: "Finished", 21: "CertificateURL",
    22: "CertificateStatus", 23: "SupplementalData", 24: "KeyUpdate", 25: "CompressedCertificate",
    254: "MessageHash",
}


class ExtensionType(IntEnum):
    SERVER_NAME = 0
    SUPPORTED_GROUPS = 10
    EC_POINT_FORMATS = 11
    SIGNATURE_ALGORITHMS = 13
    ALPN = 16
    SUPPORTED_VERSIONS = 43
    KEY_SHARE = 51
    KEY_SHARE_DRAFT = 40  # TLS 1.3 drafts before -23


class AlertLevel(IntEnum):
    WARNING = 1
    FATAL = 2


# RFC 8446 section 6, plus the older codes of RFC 5246 / 6066 / 7301 / 8446 / 9147.
ALERT_DESCRIPTIONS: dict[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
    121: "ech_required",
}

# What Wireshark shows for the same alert ("Unknown CA"), used in human-facing text.
ALERT_TITLES: dict[int, str] = {
    code: " ".join(w.upper() if w in {"ca", "psk", "mac", "ech"} else w.capitalize() for w in name.split("_"))
    for code, name in ALERT_DESCRIPTIONS.items()
}

NAMED_GROUPS: dict[int, str] = {
    1: "sect163k1", 19: "secp192r1", 21: "secp224r1", 23: "secp256r1", 24: "secp384r1",
    25: "secp521r1", 26: "brainpoolP256r1", 27: "brainpoolP384r1", 28: "brainpoolP512r1",
    29: "x25519", 30: "x448", 256: "ffdhe2048", 257: "ffdhe3072", 258: "ffdhe4096",
    259: "ffdhe6144", 260: "ffdhe8192", 0x11EC: "X25519MLKEM768", 0x6399: "X25519Kyber768Draft00",
}


def is_grease(code: int) -> bool:
    """RFC 8701 GREASE values (0x?A?A) are noise offered to keep peers tolerant."""
    return (code & 0x0F0F) == 0x0A0A and (code >> 8) == (code & 0xFF)


def is_tls13(v: int | None) -> bool:
    """Does version ``v`` use TLS 1.3's layout (everything after ServerHello encrypted): 1.3
    itself, its drafts (0x7Fxx), and the experiment versions (0x7Exx, Facebook's 0xFB1A)."""
    return v is not None and (v == 0x0304 or (v >> 8) in (0x7F, 0x7E) or v == 0xFB1A)


def version_name(v: int) -> str:
    if v == 0x0002:
        return "SSL 2.0"
    if v == 0x0300:
        return "SSL 3.0"
    if 0x0301 <= v <= 0x0304:
        return f"TLS 1.{v - 0x0301}"
    if (v >> 8) == 0x7F:
        return f"TLS 1.3 (draft {v & 0xFF})"
    if v == 0xFB1A:
        return "TLS 1.3 (Facebook experiment)"
    if v == 0x7E02 or (v >> 8) == 0x7E:
        return f"TLS 1.3 (experiment 0x{v:04x})"
    if v == 0xFEFF:
        return "DTLS 1.0"
    if v == 0xFEFD:
        return "DTLS 1.2"
    return f"0x{v:04x}"


def cipher_name(code: int) -> str:
    name = CIPHER_SUITES.get(code)
    if name is not None:
        return name
    if is_grease(code):
        return f"GREASE_0x{code:04X}"
    return f"0x{code:04X}"


def alert_name(code: int) -> str:
    return ALERT_DESCRIPTIONS.get(code, f"unknown_{code}")


def alert_title(code: int) -> str:
    return ALERT_TITLES.get(code, f"Unknown ({code})")


def handshake_name(code: int) -> str:
    return _HANDSHAKE_NAMES.get(code, f"handshake_{code}")


def group_name(code: int) -> str:
    return NAMED_GROUPS.get(code, f"0x{code:04x}")
