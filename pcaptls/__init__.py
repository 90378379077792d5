"""pcaptls: which TLS handshakes in a packet capture failed, why, and what to change.

The folder tree is the pipeline a packet follows; each package imports only from those above
it in this list (tests/test_layout.py holds it to that):

    errors.py      the project's error family: every stage raises only these
    times.py       UTC times as text: ISO-8601 with Z in data, readable forms in tables
    inputs/        archives and Expressway diagnostic bundles, opened as streams
    capture/       files -> frames -> IP packets -> TCP segments  (only I/O: opening files)
    tcp/           TCP segments -> per-direction, in-order byte streams (reassembly, gaps, port
                   reuse), connections; knows nothing of TLS (the layer is handed in)
    tls/           byte streams -> TLS records -> handshake messages, alerts -> TlsConnection
    pipeline/      one capture through capture/ -> tcp/ -> tls/ on the chosen engine (the Rust
                   core pcaptls._core, or the Python reference above), in one or more processes
    certificates/  DER -> decoded X.509; chains judged as OpenSSL does (openssl/); trust stores
    logs/          text logs (Cisco Expressway first) -> timestamped events
    correlate/     connections + log events -> one clock, a timeline, findings with evidence
    report/        results -> table / JSON lines / CSV text
    commands/      the click commands: options, inputs, exit codes
    cli.py         the `pcaptls` command group (the only place that prints); __main__.py

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
