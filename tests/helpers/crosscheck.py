"""Compare pcaptls with tshark connection by connection (used by the corpus test and by hand).

Run as a script for a report: ``python -m tests.helpers.crosscheck FILE...``.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from pcaptls.pipeline.analysis import analyse
from pcaptls.tls import fingerprints
from pcaptls.tls.model import TlsConnection

from .oracle import TsharkConn, tshark_connections


@dataclass
class Outcome:
    file: str
    stream: int
    ours: TlsConnection | None
    theirs: TsharkConn
    diffs: list[str]


def _facts(c: TlsConnection) -> dict[str, object]:
    return {
        "sni": c.sni,
        "version": c.version_id,
        "cipher": c.cipher_id,
        "chain": [hashlib.sha256(d).hexdigest() for d in c.server_certs] or None,
        "alerts": [(f"{(c.client if a.sender == 'client' else c.server).ip}|{(c.client if a.sender == 'client' else c.server).port}", a.code)
                   for a in c.alerts if not a.encrypted],
    }


def _hello_want(t: TsharkConn) -> dict[str, object]:
    """The hello lists and JA3/JA3S tshark reports (only for the hellos it saw)."""
    want: dict[str, object] = {}
    if t.hello_lists is not None:
        want.update({f"hello_{k}": v for k, v in t.hello_lists.items()})
    if t.server_lists is not None:
        want.update({f"server_{k}": v for k, v in t.server_lists.items()})
    return want


def _hello_facts(c: TlsConnection, t: TsharkConn) -> dict[str, object]:
    f: dict[str, object] = {}
    if t.hello_lists is not None:
        f.update({"hello_ciphers": list(c.offered_ciphers), "hello_extensions": list(c.client_extensions),
                  "hello_groups": list(c.offered_groups), "hello_sigalgs": list(c.offered_sigalgs),
                  "hello_point_formats": list(c.client_point_formats), "hello_ja3": fingerprints.ja3(c)})
    if t.server_lists is not None:
        f.update({"server_extensions": list(c.server_extensions), "server_ja3s": fingerprints.ja3s(c)})
    return f


def compare_file(path: str) -> list[Outcome]:
    theirs = tshark_connections(path)
    ours = analyse(path).connections
    by_ends: dict[frozenset[tuple[str, int]], list[TlsConnection]] = {}
    for c in ours:
        by_ends.setdefault(frozenset({(c.client.ip, c.client.port), (c.server.ip, c.server.port)}), []).append(c)
    out = []
    for stream, t in sorted(theirs.items()):
        cands = by_ends.get(frozenset(t.ends), [])
        match = None
        for c in cands:
            if c.first_frame == t.first_frame:
                match = c
        if match is None and len(cands) == 1:
            match = cands[0]
        diffs: list[str] = []
        if match is None:
            diffs.append("missing: pcaptls reports no TLS connection")
        else:
            f = _facts(match)
            want = {"sni": t.sni, "version": t.version, "cipher": t.cipher, "chain": t.server_chain, "alerts": t.alerts}
            f.update(_hello_facts(match, t))
            want.update(_hello_want(t))
            for k, v in want.items():
                if f[k] != v:
                    diffs.append(f"{k}: pcaptls={f[k]!r} tshark={v!r}")
        out.append(Outcome(Path(path).name, stream, match, t, diffs))
    return out


if __name__ == "__main__":
    from pcaptls.capture.files import open_capture
    from pcaptls.errors import InputError

    total = agree = 0
    for p in sys.argv[1:]:
        try:  # a README beside the captures, say: nothing to compare
            open_capture(p)[0].close()
        except InputError as e:
            print(f"{e}: skipped", file=sys.stderr)
            continue
        for o in compare_file(p):
            total += 1
            if o.diffs:
                print(f"{o.file} stream {o.stream}: " + "; ".join(o.diffs))
            else:
                agree += 1
    print(f"{agree}/{total} connections agree")
