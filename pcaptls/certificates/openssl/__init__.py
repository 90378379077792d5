"""Judge a server's certificate chain the way OpenSSL 3.0's ``X509_verify_cert`` does.

Expressway-C's traffic server verifies origin servers with OpenSSL, so OpenSSL is the reference:
the same error names (``X509_V_ERR_*`` without the prefix), the same depth, and the *first* error
OpenSSL reports, which depends on the order of its checks (``crypto/x509/x509_vfy.c``):

1. ``build_chain``: from the leaf upwards, trusted issuers first (X509_V_FLAG_TRUSTED_FIRST is
   the default), then the certificates the server sent. An issuer candidate must have a subject
   equal to the child's issuer (X509_NAME_cmp's canonical form), an SKI matching the child's AKI
   where both exist, and a key of the type the child's signature algorithm needs. A chain is
   trusted only when it ends in a self-signed certificate taken from the trust store (no
   ``-partial_chain``). Failing that, the error is reported at the top of the chain:
   DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT (the top came
   from the trust store but is not a root) or UNABLE_TO_GET_ISSUER_CERT_LOCALLY.
2. ``check_extensions``, bottom up: unhandled critical extensions, CA flags (INVALID_CA for an
   issuer that is not a CA), path length.
3. ``check_id``: host name (SAN DNS with OpenSSL's wildcard rules, CN only when there is no DNS
   SAN) or IP address (SAN IP only), at depth 0.
4. ``internal_verify``, top down: key usage of the issuer, signature, then notBefore/notAfter of
   each certificate (so an expired root is reported before an expired leaf).
5. ``check_name_constraints``: subject, SAN entries (and a host-like CN when there is no DNS
   SAN) against the constraints of every CA above, reported at the constrained certificate.

With ``purpose="sslserver"`` the extension checks also apply libssl's TLS-client purpose
(INVALID_PURPOSE). With ``names="traffic_server"`` step 3 is replaced by Apache Traffic Server's
own name check between steps 4 and 5, which is what Expressway's traffic server does (its verify
callback checks the name at depth 0 once OpenSSL is content there; the log then says "SNI (...)
not in certificate"): CN always consulted, IP addresses compared as text with DNS entries.

Revocation, policy and security-level checks are not modelled: ``openssl verify`` does not apply
them by default, and Expressway's failures are not about them (it accepts SHA-1-signed CUCM
certificates, which OpenSSL 3.0 at security level 1 would refuse).

The time is always given (the handshake's capture time), never "now".

One module per concern, each the counterpart of an OpenSSL source file:

    vocabulary.py   X509_V_ERR_* names, OpenSSL 3.0 and 1.1.1 wording, Verdict
    facts.py        what x509v3_cache_extensions() caches: canonical names, CA flags, purpose
    signatures.py   the signature check, once per (subject, issuer) pair
    hostnames.py    host and IP checks: OpenSSL's (v3_utl.c) and Apache Traffic Server's
    constraints.py  name constraints (v3_ncons.c)
    chain.py        verify_chain / verify_connection: build_chain and the checks in order
    advice.py       the verdict in plain words, and the fix on Expressway-C
"""
