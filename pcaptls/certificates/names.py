"""Attribute names in distinguished names, as OpenSSL writes them.

RFC 4514 names only a handful of attribute types (CN, L, ST, O, OU, C, STREET, DC, UID) and
spells the rest as dotted OIDs (``1.2.840.113549.1.9.1=info@example.com``). pcaptls keeps RFC
4514's form (most specific attribute first, escaping as the RFC says) and uses OpenSSL's short
names for the other attributes that occur in certificates, so a subject reads as in
``openssl x509 -text`` and in Expressway's log (``emailAddress=info@example.com``).
"""

from __future__ import annotations

from cryptography.x509.oid import ObjectIdentifier

# OpenSSL's short names (crypto/objects/objects.txt) for attribute types RFC 4514 leaves unnamed.
OPENSSL_SHORT_NAMES: dict[ObjectIdentifier, str] = {
    ObjectIdentifier(oid): name
    for oid, name in (
        ("1.2.840.113549.1.9.1", "emailAddress"),
        ("1.2.840.113549.1.9.2", "unstructuredName"),
        ("1.2.840.113549.1.9.8", "unstructuredAddress"),
        ("2.5.4.4", "SN"),
        ("2.5.4.5", "serialNumber"),
        ("2.5.4.12", "title"),
        ("2.5.4.13", "description"),
        ("2.5.4.15", "businessCategory"),
        ("2.5.4.17", "postalCode"),
        ("2.5.4.42", "GN"),
        ("2.5.4.43", "initials"),
        ("2.5.4.44", "generationQualifier"),
        ("2.5.4.46", "dnQualifier"),
        ("2.5.4.65", "pseudonym"),
        ("2.5.4.97", "organizationIdentifier"),
        ("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"),
        ("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"),
        ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"),
    )
}
