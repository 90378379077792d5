"""The default trust store's file: certifi's copy of the Mozilla CA list.

Apart from :mod:`.truststore`, which reads it, so that a command can name the store it judges
against without loading the certificate modules (and cryptography) when nothing was judged.
"""

from __future__ import annotations


def default_path() -> str:
    """Where certifi's bundle is."""
    import certifi

    return certifi.where()


def default_source() -> str:
    """How :func:`pcaptls.certificates.truststore.default_store` describes itself (without
    reading the bundle)."""
    import certifi

    return (f"default: certifi {getattr(certifi, '__version__', '?')} public CA bundle ({certifi.where()}); "
            "pass --trust-store with Expressway's trust store for its verdict")
