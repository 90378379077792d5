"""pcaptls.correlate.link on connections built by hand from the model and Expressway-format logs."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone

import pytest

from pcaptls.correlate import correlate, estimate_offset
from pcaptls.logs import EventKind, parse_lines
from pcaptls.tcp.facts import Endpoint
from pcaptls.tls.model import Alert, HandshakeEvent, TlsConnection

T0 = 1_657_558_526.0  # 2022-07-11 16:55:26 UTC, the seed article's minute
EXPC = "10.48.36.10"
CUCM = "10.48.36.215"
LOCAL = timezone(timedelta(hours=2))


def conn(cport: int, ip: str, port: int, start: float, *, failed: bool = True, sni: str | None = None,
         client_alert: bool = True) -> TlsConnection:
    """A TCP+TLS connection as the TLS stage would report it (Expressway-C is the client)."""
    hs = [
        HandshakeEvent(start + 0.001, 4, "client", 1),
        HandshakeEvent(start + 0.004, 6, "server", 2),
        HandshakeEvent(start + 0.004, 6, "server", 11),
        HandshakeEvent(start + 0.004, 6, "server", 13),
        HandshakeEvent(start + 0.004, 6, "server", 14),
    ]
    alerts: tuple[Alert, ...] = ()
    if failed:
        alerts = (Alert(start + 0.006, 8, "client" if client_alert else "server", 2, 48),)
        end = start + 0.007
    else:
        hs += [HandshakeEvent(start + 0.005, 8, "client", 16), HandshakeEvent(start + 0.005, 8, "client", -1),
               HandshakeEvent(start + 0.006, 9, "server", -1)]
        end = start + 0.05
    return TlsConnection(
        client=Endpoint(EXPC, cport), server=Endpoint(ip, port), start=start, end=end, first_frame=1,
        sni=sni, alerts=alerts, handshake=tuple(hs), closed_by="client", close_kind="RST" if failed else "FIN",
        saw_syn=True, client_hello_seen=True, server_hello_seen=True,
    )


class Log:
    """Writes Expressway-C log lines for times on the capture's clock, its own clock ``offset`` ahead."""

    def __init__(self, offset: float = 0.0, pid: int = 18242) -> None:
        self.offset, self.pid, self.lines, self.txn = offset, pid, [], 190

    def _stamp(self, t: float) -> tuple[str, str]:
        u = datetime.fromtimestamp(round((t + self.offset) * 1000) / 1000, timezone.utc)
        return u.astimezone(LOCAL).isoformat(timespec="milliseconds"), u.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]

    def ts(self, t: float, body: str) -> None:
        local, utc = self._stamp(t)
        self.lines.append(f'{local} vcsc traffic_server[{self.pid}]: UTCTime="{utc}" '
                          f'Module="network.http.trafficserver" Level="INFO": {body}')

    def et(self, t: float, body: str) -> None:
        local, _ = self._stamp(t)
        self.lines.append(f"{local} vcsc traffic_server[{self.pid}]: [ET_NET 0] {body}")

    def request(self, c: TlsConnection, name: str | None = None, *, attempts: int = 1,
                conns: list[TlsConnection] | None = None) -> None:
        """A proxied request over ``c`` (and retries over ``conns``): lines as X14.2 writes them."""
        self.txn += 1
        ip, port = c.server.ip, c.server.port
        host = name or ip
        self.ts(c.start - 0.004, f'Detail="Receive Request" Txn-id="{self.txn}" TrackingID="t{self.txn}" '
                                 f'Src-ip="127.0.0.1" Src-port="35766" Msg="GET /x HTTP/1.1"')
        self.ts(c.start, f'Detail="Sending Request" Txn-id="{self.txn}" TrackingID="t{self.txn}" '
                         f'Dst-ip="{ip}" Dst-port="{port}" Msg="GET /x HTTP/1.1"')
        tries = conns or [c]
        for k in tries:
            verdict = k.alerts[0].time if k.alerts else k.end
            if not k.alerts:
                self.ts(verdict + 0.002, f'Detail="Receive Response" Txn-id="{self.txn}" TrackingID="" '
                                         f'Src-ip="{ip}" Src-port="{port}" Msg="HTTP/1.1 200 OK"')
                self.ts(verdict + 0.003, f'Detail="Sending Response" Txn-id="{self.txn}" TrackingID="" '
                                         f'Dst-ip="127.0.0.1" Dst-port="35766" Msg="HTTP/1.1 200 OK"')
                return
            self.et(verdict, f"WARNING: Core server certificate verification failed for ({host}). "
                             f"Action=Terminate Error=self signed certificate server={host}({ip}) depth=0")
            self.et(verdict + 0.0002, f"ERROR: SSL connection failed for '{host}': error:1416F086:SSL "
                                      "routines:tls_process_server_certificate:certificate verify failed")
        last = tries[-1].alerts[0].time
        self.ts(last + 0.008, f'Detail="Sending Response" Txn-id="{self.txn}" TrackingID="" '
                              f'Dst-ip="127.0.0.1" Dst-port="35766" Msg="HTTP/1.1 502 connect failed"')

    def events(self):
        evs, summary = parse_lines(self.lines, "expressway.log")
        assert summary.skipped == 0
        return evs


def _expect(corr, conns, events, expected: dict[int, int]):
    """Every failure/502 event (by index) linked to the expected connection index."""
    for k, ci in expected.items():
        link = corr.links[k]
        assert link.connection == ci, (k, events[k].message, link)
        assert link.connection_id == conns[ci].id


def _failure_indexes(events):
    return [k for k, e in enumerate(events) if e.kind.is_failure or e.kind is EventKind.CONNECT_FAILED_502]


def scenario(offset: float = 4.75):  # type: ignore[no-untyped-def]
    """The lab's MRA case: 8443 fine, then 6972 to the same server fails; the log ``offset`` s off."""
    conns = [conn(35622, CUCM, 8443, T0, failed=False, sni="cucm.steven.lab"),
             conn(35624, CUCM, 6972, T0 + 0.09, sni="cucm.steven.lab")]
    log = Log(offset)
    log.request(conns[0], "cucm.steven.lab")
    log.request(conns[1], "cucm.steven.lab")
    events = log.events()
    return conns, events, correlate(conns, events)


@pytest.mark.parametrize("offset", [0.0, 4.75, -7.3, 61.2])
def test_ok_8443_and_failed_6972_to_the_same_server(offset):
    conns, events, corr = scenario(offset)
    assert corr.offset.method == "estimated" and corr.offset.seconds == pytest.approx(offset, abs=0.005)
    by_kind = {(e.kind, e.server_port): corr.links[k].connection for k, e in enumerate(events)}
    assert by_kind[(EventKind.CERT_VERIFY_FAILED, 6972)] == 1
    assert by_kind[(EventKind.SSL_CONNECTION_FAILED, 6972)] == 1
    assert by_kind[(EventKind.CONNECT_FAILED_502, 6972)] == 1
    assert [corr.links[k].connection for k, e in enumerate(events) if e.server_port == 8443] == [0] * 3
    assert corr.links[0].event.message.startswith("Receive Request")
    assert (corr.links[0].connection, corr.links[0].reason) == (0, "transaction")
    assert corr.linked == len(events)


@pytest.mark.parametrize("offset", [0.0, 3.1, -5.55])
def test_same_server_and_port_contacted_many_times(offset):
    # Ten failed logins to 6972, 0.3 s apart: one attempt per connection, in order.
    conns = [conn(40000 + 2 * i, CUCM, 6972, T0 + 0.3 * i) for i in range(10)]
    log = Log(offset)
    for c in conns:
        log.request(c, "cucm.steven.lab")
    events = log.events()
    corr = correlate(conns, events)
    assert corr.offset.seconds == pytest.approx(offset, abs=0.005)
    fails = [k for k, e in enumerate(events) if e.kind is EventKind.CERT_VERIFY_FAILED]
    assert [corr.links[k].connection for k in fails] == list(range(10))
    for k in _failure_indexes(events):
        assert corr.links[k].reason in ("attempt", "transaction")
    assert len({corr.links[k].connection for k in fails}) == 10


def test_retries_within_one_transaction_go_to_one_connection_each():
    conns = [conn(40000 + 2 * i, CUCM, 6972, T0 + 0.05 * i) for i in range(3)]
    log = Log(2.0)
    log.request(conns[0], "cucm.steven.lab", conns=conns)
    events = log.events()
    corr = correlate(conns, events)
    warn = [corr.links[k].connection for k, e in enumerate(events) if e.kind is EventKind.CERT_VERIFY_FAILED]
    err = [corr.links[k].connection for k, e in enumerate(events) if e.kind is EventKind.SSL_CONNECTION_FAILED]
    assert warn == err == [0, 1, 2]
    assert corr.links[-1].event.kind is EventKind.CONNECT_FAILED_502 and corr.links[-1].connection == 2
    req = next(k for k, e in enumerate(events) if e.message.startswith("Sending Request"))
    assert corr.links[req].connection == 0


def test_forced_offset_is_used_and_reported():
    conns = [conn(40000, CUCM, 6972, T0)]
    log = Log(10.0)
    log.request(conns[0])
    events = log.events()
    assert correlate(conns, events, clock_offset=10.0).linked == len(events)
    wrong = correlate(conns, events, clock_offset=0.0)
    assert wrong.offset.method == "forced" and str(wrong.offset).endswith("(forced)")
    assert all(k.connection is None for k in wrong.links if k.event.kind.is_failure)
    assert {k.reason for k in wrong.links if k.event.kind.is_failure} == {"too_far"}


def test_offset_estimate_is_robust_to_unrelated_records():
    rnd = random.Random(4)
    conns = [conn(40000 + 2 * i, CUCM, 6972 if i % 2 else 8443, T0 + 1.7 * i, failed=bool(i % 2))
             for i in range(12)]
    log = Log(-12.25)
    for c in conns:
        log.request(c)
    # Noise: requests to the same server at random times with no connection of their own.
    for _ in range(8):
        t = T0 + rnd.uniform(-30, 60)
        log.ts(t, f'Detail="Sending Request" Txn-id="9{rnd.randrange(999)}" Dst-ip="{CUCM}" '
                  f'Dst-port="8443" Msg="GET / HTTP/1.1"')
    events = sorted(log.events(), key=lambda e: e.time)
    off = estimate_offset(conns, events)
    assert off.seconds == pytest.approx(-12.25, abs=0.005)
    assert off.pairs >= 24 and off.spread is not None and off.spread < 0.01


def test_no_pairs_means_no_offset():
    off = estimate_offset([conn(40000, "10.0.0.1", 443, T0)], Log().events())
    assert (off.seconds, off.method, str(off).startswith("0 s")) == (0.0, "none", True)


def test_name_only_records_link_by_sni_and_unknown_servers_stay_unlinked():
    conns = [conn(40000, "10.0.0.7", 5061, T0, sni="imp.steven.lab", client_alert=False)]
    lines = [
        "2022-07-11T18:55:26.006+02:00 vcsc traffic_server[1]: [ET_NET 1] ERROR: SSL connection failed for "
        "'imp.steven.lab':error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca",
        "2022-07-11T18:55:26.006+02:00 vcsc traffic_server[1]: [ET_NET 1] ERROR: SSL connection failed for "
        "'unity.steven.lab':error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca",
        "2022-07-11T18:55:26.006+02:00 vcsc traffic_server[1]: [ET_NET 1] WARNING: Traffic Server restarted",
    ]
    events, _ = parse_lines(lines)
    corr = correlate(conns, events)
    assert [(k.connection, k.reason) for k in corr.links] == [(0, "attempt"), (None, "no_candidate"), (None, "no_server")]


def test_port_less_warning_prefers_the_failed_connection():
    # The warning (at .007) is nearer the working connection's last message (.007) than the
    # failed one's alert (.006): the failure still goes to the connection that failed.
    ok = conn(40000, CUCM, 8443, T0 + 0.001, failed=False)
    bad = conn(40002, CUCM, 6972, T0)
    line = (f"2022-07-11T18:55:26.007+02:00 vcsc traffic_server[1]: [ET_NET 0] WARNING: SNI ({CUCM}) not in "
            f"certificate. Action=Terminate server={CUCM}({CUCM})")
    events, _ = parse_lines([line])
    assert events[0].server_port is None
    corr = correlate([ok, bad], events)
    assert corr.links[0].connection == 1


def test_by_connection_view():
    conns = [conn(40000, CUCM, 6972, T0)]
    log = Log()
    log.request(conns[0])
    events = log.events()
    corr = correlate(conns, events)
    assert len(corr.by_connection[0]) == len(events)


def test_concurrent_failures_to_one_server_port_interleaved_in_the_log():
    c1 = conn(40000, CUCM, 6972, T0)
    c2 = conn(40002, CUCM, 6972, T0 + 0.002)
    log = Log(1.5)
    log.txn = 500
    for n, c in enumerate((c1, c2)):
        log.ts(c.start, f'Detail="Sending Request" Txn-id="{n}" TrackingID="" Dst-ip="{CUCM}" '
                        f'Dst-port="6972" Msg="GET /CSFemusk.cnf.xml HTTP/1.1"')
    for n, c in enumerate((c1, c2)):
        log.lines.append(log.lines.pop())  # keep file order: requests first
    for n, c in enumerate((c1, c2)):
        local, _ = log._stamp(c.alerts[0].time)
        log.lines.append(f"{local} vcsc traffic_server[18242]: [ET_NET {n}] WARNING: Core server certificate "
                         f"verification failed for ({CUCM}). Action=Terminate Error=self signed certificate "
                         f"server={CUCM}({CUCM}) depth=0")
    for n, c in enumerate((c1, c2)):
        local, _ = log._stamp(c.alerts[0].time + 0.0002)
        log.lines.append(f"{local} vcsc traffic_server[18242]: [ET_NET {n}] ERROR: SSL connection failed for "
                         f"'{CUCM}': error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed")
    events = log.events()
    corr = correlate([c1, c2], events)
    got = [(e.kind.value, e.thread, corr.links[k].connection) for k, e in enumerate(events) if e.kind.is_failure]
    assert got == [
        ("cert_verify_failed", "ET_NET 0", 0), ("cert_verify_failed", "ET_NET 1", 1),
        ("ssl_connection_failed", "ET_NET 0", 0), ("ssl_connection_failed", "ET_NET 1", 1),
    ]


def test_empty_inputs_and_connections_without_handshake():
    assert correlate([], []).links == ()
    log = Log()
    c = conn(40000, CUCM, 6972, T0)
    log.request(c)
    events = log.events()
    corr = correlate([], events)
    assert corr.linked == 0 and corr.offset.method == "none"
    assert {k.reason for k in corr.links} <= {"no_candidate", "no_server"}
    bare = TlsConnection(client=Endpoint(EXPC, 40000), server=Endpoint(CUCM, 6972), start=T0, end=T0 + 0.01,
                         first_frame=1)
    corr = correlate([bare], events)
    fails = [k for k in corr.links if k.event.kind.is_failure]
    assert all(k.connection == 0 for k in fails)


def test_log_with_only_warning_and_error_lines():
    # Diagnostic logging at a level without the request lines: no transactions, no ports.
    ok = conn(40000, CUCM, 8443, T0, failed=False)
    bad = conn(40002, CUCM, 6972, T0 + 0.2)
    log = Log(-2.0)
    log.request(bad, "cucm.steven.lab")
    log.lines = [x for x in log.lines if "[ET_NET" in x]
    events = log.events()
    assert [e.server_port for e in events] == [None, None]
    assert events[1].server_ip == CUCM  # the ERROR names only the host; its thread's WARNING the address
    corr = correlate([ok, bad], events)
    assert corr.offset.seconds == pytest.approx(-2.0, abs=0.005)
    assert [(k.connection, k.reason) for k in corr.links] == [(1, "attempt"), (1, "attempt")]


def test_two_logs_on_two_clocks_get_their_own_offsets():
    starts = [0.0, 0.61, 1.5, 2.18, 2.95, 3.52]  # irregular: every other one is not a shifted copy
    conns = [conn(40000 + 2 * i, CUCM, 6972, T0 + x) for i, x in enumerate(starts)]
    a, b = Log(3.0), Log(-11.5)
    for i, c in enumerate(conns):
        (a if i % 2 else b).request(c)
    ea, _ = parse_lines(a.lines, "expressway-c.log")
    eb, _ = parse_lines(b.lines, "expressway-c2.log")
    events = sorted(ea + eb, key=lambda e: e.time)
    corr = correlate(conns, events)
    assert corr.offsets["expressway-c.log"].seconds == pytest.approx(3.0, abs=0.005)
    assert corr.offsets["expressway-c2.log"].seconds == pytest.approx(-11.5, abs=0.005)
    assert corr.linked == len(events) and set(corr.reasons) <= {"attempt", "transaction"}
    forced = correlate(conns, events, clock_offset={"expressway-c.log": 3.0, "expressway-c2.log": -11.5})
    assert [k.connection for k in forced.links] == [k.connection for k in corr.links]
    assert forced.offsets["expressway-c.log"].method == "forced"


def test_requests_on_a_keepalive_connection_and_one_failure():
    keep = dataclasses.replace(conn(40000, CUCM, 8443, T0, failed=False), end=T0 + 30.0)
    bad = conn(40002, CUCM, 6972, T0 + 12.3)
    log = Log(6.5)
    for n, t in enumerate((T0 + 0.0, T0 + 4.1, T0 + 9.7, T0 + 17.2, T0 + 25.0)):
        log.ts(t, f'Detail="Sending Request" Txn-id="{n}" TrackingID="" Dst-ip="{CUCM}" Dst-port="8443" '
                  'Msg="GET /cucm-uds/version HTTP/1.1"')
    log.request(bad)  # written after the later keep-alive requests: file order is not time order
    events = sorted(log.events(), key=lambda e: e.time)
    corr = correlate([keep, bad], events)
    assert corr.offset.seconds == pytest.approx(6.5, abs=0.005)
    assert [k.connection for k in corr.links if k.event.server_port == 8443] == [0] * 5
    assert {k.connection for k in corr.links if k.event.server_port == 6972} == {1}
