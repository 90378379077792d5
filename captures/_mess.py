"""A deterministic bad network: an Ethernet bridge that loses, reorders and duplicates.

``python _mess.py CONFIG.json`` runs inside the lab's middle namespace, bound with AF_PACKET
sockets to two veths (``client_if`` towards Expressway-C, ``server_if`` towards the servers),
and forwards every frame from one to the other. Connections are numbered 1, 2, 3 ... in the
order their SYNs pass; within each, the server-to-client segments that carry new data are
numbered 1, 2, 3 ... The config's ``rules`` act on (connection, segment):

- ``drop``: the first transmission is lost (the server retransmits; the retransmission passes);
- ``hold``: the segment is held back and sent right after the connection's next data segment
  (or after ``hold_ms`` if none comes), so it arrives out of order;
- ``dup``: the segment is sent twice.

The lab uses this instead of ``tc netem``: rules are counters, not random draws, so every run
damages the same segments of the same connections, and no kernel qdisc module is needed.
On SIGTERM it writes what it did to ``report``.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import sys
import time
from typing import Any

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_SYN, _ACK = 0x02, 0x10


def _tcp(frame: bytes) -> tuple[bytes, bytes, int, int, int] | None:
    """(flow key, reverse flow key, seq, payload length, flags) of an IPv4/TCP frame."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    tcp = 14 + ihl
    doff = (frame[tcp + 12] >> 4) * 4
    src, dst = frame[26:30], frame[30:34]
    sport, dport = frame[tcp:tcp + 2], frame[tcp + 2:tcp + 4]
    return (src + sport + dst + dport, dst + dport + src + sport,
            int.from_bytes(frame[tcp + 4:tcp + 8], "big"), total - ihl - doff, frame[tcp + 13])


def run(config: dict[str, Any]) -> None:
    cli = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    srv = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cli.bind((config["client_if"], 0))
    srv.bind((config["server_if"], 0))
    rules = {(r["connection"], r["segment"]): r["action"] for r in config["rules"]}
    number: dict[bytes, int] = {}  # server-to-client flow -> connection number
    count: dict[bytes, int] = {}  # new data segments so far, per flow
    top: dict[bytes, int] = {}  # end of the highest data seen, per flow (no wrap in the lab)
    held: dict[bytes, tuple[float, bytes]] = {}
    done: list[dict[str, Any]] = []
    hold_s = config.get("hold_ms", 25) / 1000

    def stop(signum, frame):  # noqa: ARG001
        with open(config["report"], "w", encoding="utf-8") as fh:
            json.dump(done, fh)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("READY", flush=True)
    while True:
        now = time.monotonic()
        for flow in [f for f, (due, _) in held.items() if due <= now]:
            cli.send(held.pop(flow)[1])
        timeout = max(0.0, min(due for due, _ in held.values()) - now) if held else None
        for sock in select.select([cli, srv], [], [], timeout)[0]:
            frame, addr = sock.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            tcp = _tcp(frame)
            if sock is cli:
                if tcp and tcp[4] & (_SYN | _ACK) == _SYN and tcp[1] not in number:
                    number[tcp[1]] = len(number) + 1
                srv.send(frame)
                continue
            if tcp is None or tcp[3] <= 0 or tcp[2] < top.get(tcp[0], 0):
                cli.send(frame)  # not new data (handshake, ACK, retransmission): passes
                continue
            flow = tcp[0]
            top[flow] = tcp[2] + tcp[3]
            count[flow] = count.get(flow, 0) + 1
            conn, seg = number.get(flow, 0), count[flow]
            action = rules.get((conn, seg))
            if action:
                done.append({"connection": conn, "segment": seg, "action": action})
            if action == "drop":
                continue
            if action == "hold":
                held[flow] = (time.monotonic() + hold_s, frame)
                continue
            cli.send(frame)
            if action == "dup":
                cli.send(frame)
            if flow in held:  # the held segment goes out right after the one that overtook it
                cli.send(held.pop(flow)[1])


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        run(json.load(fh))
