"""A verdict in a network engineer's words, and what to change on Expressway-C."""

from __future__ import annotations

from .vocabulary import Verdict

_PLAIN: dict[str, str] = {
    "OK": "the chain verifies",
    "DEPTH_ZERO_SELF_SIGNED_CERT": "the server's own certificate is self-signed and not in the trust store",
    "SELF_SIGNED_CERT_IN_CHAIN": "the chain ends in a root CA that is not in the trust store",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": "the CA that signed {cert} is not in the trust store (nor sent by the server)",
    "UNABLE_TO_GET_ISSUER_CERT": "the trust store holds {cert} but not the root CA above it",
    "CERT_HAS_EXPIRED": "{cert} had expired at the time of the handshake",
    "CERT_NOT_YET_VALID": "{cert} was not yet valid at the time of the handshake (check clocks)",
    "HOSTNAME_MISMATCH": "the name {name} is not in the server certificate's SAN (or CN)",
    "IP_ADDRESS_MISMATCH": "the address {name} is not in the server certificate's SAN",
    "INVALID_CA": "{cert} signs certificates but is not a CA certificate",
    "INVALID_PURPOSE": "{cert} is not meant for TLS servers (extended key usage or key usage)",
    "CERT_SIGNATURE_FAILURE": "the signature on {cert} does not verify",
    "UNHANDLED_CRITICAL_EXTENSION": "{cert} has a critical extension OpenSSL does not understand",
    "PATH_LENGTH_EXCEEDED": "the chain is longer than {cert}'s path length constraint allows",
    "CERT_CHAIN_TOO_LONG": "the chain is longer than the verification depth",
    "KEYUSAGE_NO_CERTSIGN": "{cert} signs certificates but its key usage does not allow it",
    "EC_KEY_EXPLICIT_PARAMS": "{cert} has an EC key with its curve written out (explicit parameters), "
    "which OpenSSL 3.0 refuses in a chain",
    "ERROR_IN_CERT_NOT_BEFORE_FIELD": "{cert}'s notBefore time is not in a form OpenSSL can read",
    "ERROR_IN_CERT_NOT_AFTER_FIELD": "{cert}'s notAfter time is not in a form OpenSSL can read",
    "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY": "the key of the CA above {cert} cannot be read, so its signature cannot be checked",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE": "the server sent only its own certificate and its issuer is not in the trust store",
    "PROXY_CERTIFICATES_NOT_ALLOWED": "{cert} is a proxy certificate, which OpenSSL does not accept by default",
    "PERMITTED_VIOLATION": "a name in {cert} is outside the names a CA above it may certify (name constraints)",
    "EXCLUDED_VIOLATION": "a name in {cert} is one a CA above it must not certify (name constraints)",
    "UNSUPPORTED_CONSTRAINT_TYPE": "a CA above {cert} has a kind of name constraint OpenSSL does not support",
    "UNSUPPORTED_CONSTRAINT_SYNTAX": "a CA above {cert} has a name constraint OpenSSL cannot read",
    "UNSUPPORTED_NAME_SYNTAX": "a name in {cert} cannot be checked against its CA's name constraints",
}

_FIX: dict[str, str] = {
    "DEPTH_ZERO_SELF_SIGNED_CERT": "upload this certificate to Expressway-C's trust store on every cluster node "
    "(Maintenance > Security > Trusted CA certificate), or have it CA-signed; for a self-signed ECDSA certificate "
    "(X14.2 prefers ECDSA) CA-sign it, or prefer RSA by prefixing the cipher string with ECDHE-RSA-AES256-GCM-SHA384:",
    "SELF_SIGNED_CERT_IN_CHAIN": "upload the root CA (and intermediates) to Expressway-C's trust store on every node",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": "upload the issuing CA chain to Expressway-C's trust store on every node "
    "(and have the server send its intermediates)",
    "UNABLE_TO_GET_ISSUER_CERT": "upload the root CA above the trusted intermediate to Expressway-C's trust store",
    "CERT_HAS_EXPIRED": "renew the certificate on the server (or the expired CA, and re-upload it)",
    "CERT_NOT_YET_VALID": "check the clocks (NTP) of Expressway-C and the server, or reissue the certificate",
    "HOSTNAME_MISMATCH": "put the FQDN in use into the certificate's SAN, or change CUCM's System > Server entry "
    "to a name the certificate holds, then refresh the Expressway configuration",
    "IP_ADDRESS_MISMATCH": "put the IP address into the certificate's SAN, or change CUCM's System > Server entry "
    "to an FQDN the certificate holds, then refresh the Expressway configuration",
    "INVALID_CA": "reissue the chain from a proper CA (basicConstraints CA:TRUE, keyCertSign)",
    "INVALID_PURPOSE": "reissue the certificate with TLS Web Server Authentication in its extended key usage",
    "EC_KEY_EXPLICIT_PARAMS": "reissue the certificate (or its CA) with a named-curve EC key "
    "(e.g. `openssl ecparam -name prime256v1 -param_enc named_curve`)",
    "ERROR_IN_CERT_NOT_BEFORE_FIELD": "reissue the certificate: its validity times must be UTCTime/GeneralizedTime "
    "with seconds and Z (RFC 5280 4.1.2.5)",
    "ERROR_IN_CERT_NOT_AFTER_FIELD": "reissue the certificate: its validity times must be UTCTime/GeneralizedTime "
    "with seconds and Z (RFC 5280 4.1.2.5)",
}


def explain(v: Verdict, cert_name: str | None = None) -> str:
    """``v`` in plain words; ``cert_name`` names the certificate at ``v.depth`` (e.g. its CN)."""
    if v.error == "UNSPECIFIED" and v.detail:
        return f"pcaptls could not judge this chain: {v.detail}"
    who = cert_name or ("the server's certificate" if v.depth == 0 else f"the certificate at depth {v.depth}")
    text = _PLAIN.get(v.error)
    if text is None:
        return f"{v.message} (depth {v.depth})" if v.depth is not None else v.message
    return text.format(cert=who, name=v.name)


def fix(v: Verdict) -> str | None:
    """What to change, for the failures Expressway-C users meet; ``None`` for OK or the rest."""
    return _FIX.get(v.error)
