"""OpenSSL's words for a verdict: the X509_V_ERR_* codes of 3.0 with their wording, the 1.1.1
wording Expressway's traffic server logs, and :class:`Verdict`, the result of a verification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


# Error vocabulary: X509_V_ERR_* codes of OpenSSL 3.0, their 3.0 wording, and the 1.x wording
# that Expressway's traffic server writes in its log.

ERROR_CODES: dict[int, str] = {
    0: "OK", 1: "UNSPECIFIED", 2: "UNABLE_TO_GET_ISSUER_CERT", 3: "UNABLE_TO_GET_CRL",
    4: "UNABLE_TO_DECRYPT_CERT_SIGNATURE", 6: "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
    7: "CERT_SIGNATURE_FAILURE", 9: "CERT_NOT_YET_VALID", 10: "CERT_HAS_EXPIRED",
    13: "ERROR_IN_CERT_NOT_BEFORE_FIELD", 14: "ERROR_IN_CERT_NOT_AFTER_FIELD",
    18: "DEPTH_ZERO_SELF_SIGNED_CERT", 19: "SELF_SIGNED_CERT_IN_CHAIN",
    20: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", 21: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    22: "CERT_CHAIN_TOO_LONG", 23: "CERT_REVOKED", 24: "NO_ISSUER_PUBLIC_KEY",
    25: "PATH_LENGTH_EXCEEDED", 26: "INVALID_PURPOSE", 27: "CERT_UNTRUSTED", 28: "CERT_REJECTED",
    32: "KEYUSAGE_NO_CERTSIGN", 34: "UNHANDLED_CRITICAL_EXTENSION", 37: "INVALID_NON_CA",
    40: "PROXY_CERTIFICATES_NOT_ALLOWED", 41: "INVALID_EXTENSION", 47: "PERMITTED_VIOLATION",
    48: "EXCLUDED_VIOLATION", 49: "SUBTREE_MINMAX", 51: "UNSUPPORTED_CONSTRAINT_TYPE",
    52: "UNSUPPORTED_CONSTRAINT_SYNTAX", 53: "UNSUPPORTED_NAME_SYNTAX", 55: "PATH_LOOP", 62: "HOSTNAME_MISMATCH", 63: "EMAIL_MISMATCH",
    64: "IP_ADDRESS_MISMATCH", 66: "EE_KEY_TOO_SMALL", 67: "CA_KEY_TOO_SMALL",
    68: "CA_MD_TOO_WEAK", 76: "UNSUPPORTED_SIGNATURE_ALGORITHM",
    77: "SIGNATURE_ALGORITHM_MISMATCH", 79: "INVALID_CA", 94: "EC_KEY_EXPLICIT_PARAMS",
}

MESSAGES: dict[str, str] = {  # X509_verify_cert_error_string() of OpenSSL 3.0
    "OK": "ok",
    "UNSPECIFIED": "unspecified certificate verification error",
    "UNABLE_TO_GET_ISSUER_CERT": "unable to get issuer certificate",
    "UNABLE_TO_GET_CRL": "unable to get certificate CRL",
    "UNABLE_TO_DECRYPT_CERT_SIGNATURE": "unable to decrypt certificate's signature",
    "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY": "unable to decode issuer public key",
    "CERT_SIGNATURE_FAILURE": "certificate signature failure",
    "CERT_NOT_YET_VALID": "certificate is not yet valid",
    "CERT_HAS_EXPIRED": "certificate has expired",
    "ERROR_IN_CERT_NOT_BEFORE_FIELD": "format error in certificate's notBefore field",
    "ERROR_IN_CERT_NOT_AFTER_FIELD": "format error in certificate's notAfter field",
    "DEPTH_ZERO_SELF_SIGNED_CERT": "self-signed certificate",
    "SELF_SIGNED_CERT_IN_CHAIN": "self-signed certificate in certificate chain",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": "unable to get local issuer certificate",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE": "unable to verify the first certificate",
    "CERT_CHAIN_TOO_LONG": "certificate chain too long",
    "CERT_REVOKED": "certificate revoked",
    "NO_ISSUER_PUBLIC_KEY": "issuer certificate doesn't have a public key",
    "PATH_LENGTH_EXCEEDED": "path length constraint exceeded",
    "INVALID_PURPOSE": "unsuitable certificate purpose",
    "CERT_UNTRUSTED": "certificate not trusted",
    "CERT_REJECTED": "certificate rejected",
    "KEYUSAGE_NO_CERTSIGN": "key usage does not include certificate signing",
    "UNHANDLED_CRITICAL_EXTENSION": "unhandled critical extension",
    "INVALID_NON_CA": "invalid non-CA certificate (has CA markings)",
    "PROXY_CERTIFICATES_NOT_ALLOWED": "proxy certificates not allowed, please set the appropriate flag",
    "INVALID_EXTENSION": "invalid or inconsistent certificate extension",
    "PERMITTED_VIOLATION": "permitted subtree violation",
    "EXCLUDED_VIOLATION": "excluded subtree violation",
    "SUBTREE_MINMAX": "name constraints minimum and maximum not supported",
    "UNSUPPORTED_CONSTRAINT_TYPE": "unsupported name constraint type",
    "UNSUPPORTED_CONSTRAINT_SYNTAX": "unsupported or invalid name constraint syntax",
    "UNSUPPORTED_NAME_SYNTAX": "unsupported or invalid name syntax",
    "PATH_LOOP": "path loop",
    "HOSTNAME_MISMATCH": "hostname mismatch",
    "EMAIL_MISMATCH": "email address mismatch",
    "IP_ADDRESS_MISMATCH": "IP address mismatch",
    "EE_KEY_TOO_SMALL": "EE certificate key too weak",
    "CA_KEY_TOO_SMALL": "CA certificate key too weak",
    "CA_MD_TOO_WEAK": "CA signature digest algorithm too weak",
    "UNSUPPORTED_SIGNATURE_ALGORITHM": "Cannot find certificate signature algorithm",
    "SIGNATURE_ALGORITHM_MISMATCH": "subject signature algorithm and issuer public key algorithm mismatch",
    "INVALID_CA": "invalid CA certificate",
    "EC_KEY_EXPLICIT_PARAMS": "Certificate public key has explicit ECC parameters",
}

# OpenSSL 1.1.1 wording where it differs (x509_txt.c before 3.0): what Expressway logs say.
_OPENSSL1_MESSAGES: dict[str, str] = {
    "DEPTH_ZERO_SELF_SIGNED_CERT": "self signed certificate",
    "SELF_SIGNED_CERT_IN_CHAIN": "self signed certificate in certificate chain",
    "INVALID_PURPOSE": "unsupported certificate purpose",
    "HOSTNAME_MISMATCH": "Hostname mismatch",
    "EMAIL_MISMATCH": "Email address mismatch",
}


def openssl1_message(error: str) -> str:
    """The OpenSSL 1.x wording of ``error`` (as Expressway's traffic_server log has it)."""
    return _OPENSSL1_MESSAGES.get(error) or MESSAGES.get(error, error.lower().replace("_", " "))


@dataclass(frozen=True, slots=True)
class Verdict:
    """OpenSSL's first verification error for one chain (``error == "OK"`` when it verifies).

    ``depth`` is where OpenSSL reports the error (0 = the server's own certificate), ``None``
    for OK. ``name`` is the host name or IP address that was checked, ``None`` if none was.
    ``path`` is the chain OpenSSL built (SHA-256 fingerprints, leaf first), ``anchor`` the
    trust-store certificate it ended in, if any.
    """

    error: str
    depth: int | None
    message: str
    expressway_message: str
    name: str | None
    path: tuple[str, ...] = ()
    anchor: str | None = None
    detail: str | None = None  # why no OpenSSL verdict could be reached (undecodable certificate)

    @property
    def ok(self) -> bool:
        return self.error == "OK"

    def to_dict(self) -> dict[str, object]:
        return {"error": self.error, "depth": self.depth, "message": self.message, "name": self.name}


def make_verdict(
    error: str, depth: int | None, name: str | None, path: Sequence[str] = (), anchor: str | None = None
) -> Verdict:
    return Verdict(error, depth, MESSAGES.get(error, error), openssl1_message(error), name, tuple(path), anchor)
