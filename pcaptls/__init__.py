"""pcaptls: which TLS handshakes in a packet capture failed, why, and what to change.

The package is laid out as the pipeline a packet follows, one stage per sub-package:

    capture/       files -> link-layer frames -> IP packets -> TCP segments  (only I/O: opening files)
    tcp/           TCP segments -> per-direction, in-order byte streams (reassembly, gaps, port reuse)
    tls/           byte streams -> TLS records -> handshake messages and alerts (sans-IO parsers)
    certificates/  DER certificates -> decoded X.509, chain verification, trust stores
    logs/          text logs (Cisco Expressway first) -> timestamped events
    correlate/     capture connections + log events -> one timeline, findings with evidence
    report/        results -> table / JSON lines / CSV text
    cli.py         the `pcaptls` command (the only place that prints)

Parsers in the core take bytes and return values, return ``None`` when they need more bytes,
or raise one of the exceptions in :mod:`pcaptls.errors`. Anything else escaping is a bug.
Times inside are UTC: epoch seconds as ``float`` on the hot path, aware ``datetime`` at the edges.
"""

__version__ = "0.1.0"

_API = ("connections", "timeline", "findings")  # pandas tables (pcaptls.api); on a cluster: pcaptls.dask


def __getattr__(name: str) -> object:
    # Loaded on first use: importing pcaptls (as the command does) stays as light as before.
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'pcaptls' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
