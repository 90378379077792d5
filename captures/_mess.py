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

Two rules name a connection only (no ``segment``):

- ``resend_close``: once both sides have sent their FIN, the server's last data segment (its
  close_notify) and its FIN segment are sent again ``copies`` times, ``after_ms`` after the close
  and then at doubling intervals, as a server whose FIN went unacknowledged retransmits them;
- ``corrupt_finished``: the server's first segment that starts with a ChangeCipherSpec record
  (TLS 1.2: CCS, then its encrypted Finished) gets its last byte flipped (the AEAD tag, so the
  client's record layer rejects it) and its TCP checksum recomputed, so TCP delivers it.

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
_FIN, _SYN, _ACK = 0x01, 0x02, 0x10
_CCS = bytes.fromhex("140303000101")  # a TLS 1.2 ChangeCipherSpec record


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


def _corrupt_last_byte(frame: bytes) -> bytes:
    """``frame`` with its last TCP payload byte flipped and the TCP checksum made right again."""
    out = bytearray(frame)
    ihl = (out[14] & 0x0F) * 4
    total = int.from_bytes(out[16:18], "big")
    tcp = 14 + ihl
    out[14 + total - 1] ^= 0x01
    out[tcp + 16:tcp + 18] = b"\0\0"
    seg = bytes(out[tcp:14 + total])
    pseudo = bytes(out[26:34]) + b"\0\x06" + len(seg).to_bytes(2, "big")
    data = pseudo + seg + (b"\0" if len(seg) % 2 else b"")
    acc = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while acc >> 16:
        acc = (acc & 0xFFFF) + (acc >> 16)
    out[tcp + 16:tcp + 18] = (~acc & 0xFFFF).to_bytes(2, "big")
    return bytes(out)


def _payload(frame: bytes) -> bytes:
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    tcp = 14 + ihl
    return frame[tcp + (frame[tcp + 12] >> 4) * 4:14 + total]


def run(config: dict[str, Any]) -> None:
    cli = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    srv = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cli.bind((config["client_if"], 0))
    srv.bind((config["server_if"], 0))
    rules = {(r["connection"], r["segment"]): r["action"] for r in config["rules"]
             if "segment" in r}
    by_conn = {(r["connection"], r["action"]): r for r in config["rules"] if "segment" not in r}
    number: dict[bytes, int] = {}  # server-to-client flow -> connection number
    count: dict[bytes, int] = {}  # new data segments so far, per flow
    top: dict[bytes, int] = {}  # end of the highest data seen, per flow (no wrap in the lab)
    held: dict[bytes, tuple[float, bytes]] = {}
    closing: dict[int, dict[str, Any]] = {}  # connection -> its close as the bridge saw it
    later: list[tuple[float, bytes]] = []  # (due, frame): copies to send after the close
    corrupted: set[int] = set()
    done: list[dict[str, Any]] = []
    hold_s = config.get("hold_ms", 25) / 1000

    def _closed(conn: int, what: str, frame: bytes) -> None:
        """Note a FIN; once both sides sent theirs, schedule the re-sent close if a rule says so."""
        state = closing.setdefault(conn, {})
        state[what] = frame
        rule = by_conn.get((conn, "resend_close"))
        if not rule or state.get("scheduled") or not {"client_fin", "server_fin"} <= set(state):
            return
        state["scheduled"] = True
        frames = [state["server_fin"]]
        if state.get("last_data") is not None and state["last_data"] != state["server_fin"]:
            frames.insert(0, state["last_data"])
        gap = rule.get("after_ms", 200) / 1000
        due = time.monotonic()
        for _ in range(rule.get("copies", 1)):
            due += gap
            gap *= 2
            later.extend((due, f) for f in frames)
        done.append({"connection": conn, "action": "resend_close",
                     "copies": rule.get("copies", 1), "frames_per_copy": len(frames)})

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
        for item in [x for x in later if x[0] <= now]:
            later.remove(item)
            cli.send(item[1])
        dues = [due for due, _ in held.values()] + [due for due, _ in later]
        timeout = max(0.0, min(dues) - now) if dues else None
        for sock in select.select([cli, srv], [], [], timeout)[0]:
            frame, addr = sock.recvfrom(65535)
            if addr[2] == PACKET_OUTGOING:
                continue
            tcp = _tcp(frame)
            if sock is cli:
                if tcp and tcp[4] & (_SYN | _ACK) == _SYN and tcp[1] not in number:
                    number[tcp[1]] = len(number) + 1
                if tcp and tcp[4] & _FIN and tcp[1] in number:
                    _closed(number[tcp[1]], "client_fin", frame)
                srv.send(frame)
                continue
            conn = number.get(tcp[0], 0) if tcp else 0
            if tcp and tcp[3] > 0:
                closing.setdefault(conn, {})["last_data"] = frame
            if tcp and tcp[4] & _FIN:
                _closed(conn, "server_fin", frame)
            if (tcp and tcp[3] > 0 and (conn, "corrupt_finished") in by_conn
                    and conn not in corrupted and _payload(frame).startswith(_CCS)):
                corrupted.add(conn)
                frame = _corrupt_last_byte(frame)
                done.append({"connection": conn, "action": "corrupt_finished",
                             "segment_bytes": tcp[3]})
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
