"""The copier of encrypted records: numbering, epochs, caps, gaps (mirrored by the Rust unit
test in rust/core/src/tls/sealed.rs; both engines' carries are compared on real captures in
test_unseal.py)."""

from __future__ import annotations

from pcaptls.tls.sealed import HEAD_RECORDS, TAIL, SealedLog


def _feed(s: SealedLog, side: int, ct: int, ln: int, frame: int) -> None:
    if s.record(side, ct, ln):
        s.body(side, bytes([7]) * ln, float(frame), frame)


def test_caps_numbering_and_epochs() -> None:
    s = SealedLog()
    s.hello(True, bytes([3]) * 40)
    s.ccs(1)  # TLS 1.2, server
    _feed(s, 1, 22, 40, 1)  # Finished: seq 0, kept
    _feed(s, 1, 23, 100, 2)  # application data: numbered, not kept
    for i in range(40):
        _feed(s, 1, 21, 26, 3 + i)  # alerts: 31 more fill the head, 8 stay in the tail
    s.ccs(1)  # renegotiated keys: the collection ends
    _feed(s, 1, 21, 26, 99)
    s.start13([2, 0])  # a TLS 1.3 ServerHello (the client sent 2 0-RTT records)
    _feed(s, 0, 21, 2, 100)  # plaintext alert: not a protected record
    _feed(s, 0, 23, 40_000, 101)  # beyond the head's bytes, not small: numbered only
    _feed(s, 0, 23, 30, 102)
    s.record(0, 23, 50)  # cut by a gap inside it: lost
    s.body(0, bytes(10), 103.0, 103)
    s.lost(0, False)
    _feed(s, 0, 23, 30, 104)
    r = s.result(0, ("client", "server"))
    assert r is not None
    assert [(x.sender, x.seq) for x in r.records[:2]] == [("client", 3), ("client", 5)]
    server = [x.seq for x in r.records if x.sender == "server"]
    assert len(server) == HEAD_RECORDS + TAIL
    assert server[:2] == [0, 2] and server[HEAD_RECORDS:] == list(range(34, 42))
    assert r.client_random == bytes([3]) * 32 and r.server_hello is None
