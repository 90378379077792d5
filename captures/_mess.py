"""A deterministic bad network: an Ethernet bridge that loses, reorders and duplicates.

``python _mess.py CONFIG.json`` runs inside the lab's middle namespace, bound with AF_PACKET
sockets to two veths (``client_if`` towards Expressway-C, ``server_if`` towards the servers),
and forwards every frame from one to the other. Server-to-client TCP segments that carry new
data are numbered 1, 2, 3 ... in arrival order, and the rules in the config act on that number:

- ``drop_every``/``drop_offset``: the first transmission is dropped (the sender retransmits; the
  retransmission passes);
- ``hold_every``/``hold_offset``: the segment is held back and sent after the next data segment
  (or after ``hold_ms`` if none comes), so it arrives out of order;
- ``dup_every``/``dup_offset``: the segment is sent twice.

The lab uses this instead of ``tc netem``: the rules are counters, not random draws, so the same
traffic is made messy the same way on every run, and no kernel qdisc module is needed.
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


def _tcp_data(frame: bytes) -> tuple[bytes, int, int] | None:
    """(flow bytes, sequence number, payload length) of an IPv4/TCP frame with payload."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    tcp = 14 + ihl
    doff = (frame[tcp + 12] >> 4) * 4
    if total - ihl - doff <= 0:
        return None
    flow = frame[26:34] + frame[tcp:tcp + 4]  # addresses and ports
    return flow, int.from_bytes(frame[tcp + 4:tcp + 8], "big"), total - ihl - doff


def _hit(n: int, every: int, offset: int) -> bool:
    return every > 0 and n % every == offset


def run(config: dict[str, Any]) -> None:
    cli = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    srv = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cli.bind((config["client_if"], 0))
    srv.bind((config["server_if"], 0))
    top: dict[bytes, int] = {}  # per flow: end of the highest data seen (no wrap in the lab)
    stats = {"forwarded": 0, "data_segments": 0, "dropped": 0, "held": 0, "duplicated": 0}
    held: list[tuple[float, bytes]] = []
    hold_s = config.get("hold_ms", 25) / 1000

    def stop(signum, frame):  # noqa: ARG001
        with open(config["report"], "w", encoding="utf-8") as fh:
            json.dump(stats, fh)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("READY", flush=True)
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else None
        ready, _, _ = select.select([cli, srv], [], [], timeout)
        if not ready:
            for _, f in held:
                cli.send(f)
            held.clear()
            continue
        for sock in ready:
            frame, addr = sock.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            if sock is cli:
                srv.send(frame)
                stats["forwarded"] += 1
                continue
            data = _tcp_data(frame)
            if data is None or data[1] < top.get(data[0], 0):
                # Not new data (ACKs, handshakes, retransmissions): always passes.
                cli.send(frame)
                stats["forwarded"] += 1
                continue
            top[data[0]] = data[1] + data[2]
            stats["data_segments"] += 1
            n = stats["data_segments"]
            if _hit(n, config.get("drop_every", 0), config.get("drop_offset", 0)):
                stats["dropped"] += 1
                continue
            if _hit(n, config.get("hold_every", 0), config.get("hold_offset", 0)):
                held.append((time.monotonic() + hold_s, frame))
                stats["held"] += 1
                continue
            cli.send(frame)
            stats["forwarded"] += 1
            if _hit(n, config.get("dup_every", 0), config.get("dup_offset", 0)):
                cli.send(frame)
                stats["duplicated"] += 1
            for _, f in held:  # a held segment goes out right after the one that overtook it
                cli.send(f)
            held.clear()


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        run(json.load(fh))
