"""Does an issuer's key verify a certificate's signature (checked once per pair)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..lenient import verify_signature
from .facts import Facts, facts_of

if TYPE_CHECKING:
    pass

# Signatures


def signature_ok(subject: Facts, issuer: Facts) -> bool:
    return _signature_ok_der(subject.der, issuer.der)


@lru_cache(maxsize=4096)  # the same chain arrives on many connections: check each signature once
def _signature_ok_der(subject_der: bytes, issuer_der: bytes) -> bool:
    subject, issuer = facts_of(subject_der), facts_of(issuer_der)
    if subject.loaded is not None and issuer.loaded is not None and (subject.loaded.lenient or issuer.loaded.key_type):
        return verify_signature(subject.loaded, issuer.loaded)  # over the TBS bytes as sent
    try:
        subject.cert.verify_directly_issued_by(issuer.cert)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass  # names equal only after canonicalisation, or an algorithm it refuses: check by hand
    c = subject.cert
    try:
        key = issuer.cert.public_key()
        params: Any = c.signature_algorithm_parameters  # its type follows the key's, checked below
        digest: Any = c.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, params, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, params)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, digest)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(c.signature, c.tbs_certificate_bytes)
        else:
            return False
        return True
    except Exception:
        return False
