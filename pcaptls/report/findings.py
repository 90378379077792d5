"""A finding (``Finding.to_dict()``) as one CSV row: ``diagnose --format csv``."""

from __future__ import annotations

from typing import Any, Mapping

FINDING_CSV = [
    "server", "server_name", "kind", "headline", "trust_store", "problem", "explanation",
    "certificate_subject", "certificate_sha256", "chain_sha256", "verify_error", "verify_depth",
    "failed_connections", "total_connections", "connections", "first_evidence_time", "fixes",
]


def finding_row(d: Mapping[str, Any]) -> dict[str, Any]:
    """The columns :data:`FINDING_CSV` of one finding: lists joined (connections and hashes by
    spaces, fixes by " | "), the certificate and verdict reduced to their identifying fields."""
    cert = d.get("certificate") or {}
    verify = d.get("verify") or {}
    evidence = d.get("evidence") or []
    return {
        **{k: d.get(k) for k in ("server", "server_name", "kind", "headline", "trust_store", "problem",
                                 "explanation", "failed_connections", "total_connections")},
        "certificate_subject": cert.get("subject"),
        "certificate_sha256": cert.get("sha256"),
        "chain_sha256": " ".join(d.get("chain_sha256") or []),
        "verify_error": verify.get("error"),
        "verify_depth": verify.get("depth"),
        "connections": " ".join(d.get("connections") or []),
        "first_evidence_time": evidence[0]["time"] if evidence else None,
        "fixes": " | ".join(d.get("fixes") or []),
    }
