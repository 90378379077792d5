"""pcaptls.logs.parser: Expressway records -> LogEvents, transactions, hostile lines."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pcaptls.errors import InputError
from pcaptls.logs import EventKind, LineParser, parse_lines

DATA = Path(__file__).parent / "data"
UTC = timezone.utc


def events_of(name: str = "expressway_x14.log", **kw):
    return parse_lines((DATA / name).read_text(), name, **kw)


def one(line: str, **kw):
    evs, summary = parse_lines([line], "t.log", **kw)
    assert len(evs) == 1, summary
    return evs[0]


# --- the seed article's scenarios, one record per line ----------------------------------------


def test_fixture_events_in_order_and_nothing_lost():
    evs, s = events_of()
    kinds = [e.kind for e in evs]
    assert kinds == [
        EventKind.REQUEST, EventKind.EVENT, EventKind.REQUEST, EventKind.RESPONSE, EventKind.RESPONSE,
        EventKind.OTHER,
        EventKind.REQUEST, EventKind.REQUEST, EventKind.CERT_VERIFY_FAILED, EventKind.SSL_CONNECTION_FAILED,
        EventKind.CONNECT_FAILED_502,
        EventKind.REQUEST, EventKind.REQUEST, EventKind.REQUEST, EventKind.SNI_NOT_IN_CERT,
        EventKind.SSL_CONNECTION_FAILED, EventKind.CONNECT_FAILED_502, EventKind.ALERT_RECEIVED, EventKind.EVENT,
    ]
    lines_in_events = sum(e.text.count("\n") + 1 for e in evs)
    assert s.lines == lines_in_events + s.skipped
    assert dict(s.reasons) == {"blank": 2}
    assert s.events == len(evs)


def test_time_from_utctime_and_local_time_as_written():
    evs, _ = events_of()
    first = evs[0]
    assert first.time == datetime(2022, 7, 11, 16, 55, 25, 910000, tzinfo=UTC)
    assert first.local_time == "2022-07-11T18:55:25.910+02:00"
    assert (first.host, first.process, first.pid, first.line_no, first.source) == (
        "vcsc", "traffic_server", 18242, 1, "expressway_x14.log")


def test_utctime_wins_over_a_disagreeing_local_stamp():
    ev = one('2022-07-11T18:55:26.016+02:00 h traffic_server[1]: UTCTime="2022-07-11 16:55:27,500" '
             'Level="INFO": Detail="x"')
    assert ev.time == datetime(2022, 7, 11, 16, 55, 27, 500000, tzinfo=UTC)


def test_local_stamp_with_offset_when_no_utctime():
    ev = one("2022-07-11T18:55:26.016+02:00 h traffic_server[1]: [ET_NET 0] WARNING: something")
    assert ev.time == datetime(2022, 7, 11, 16, 55, 26, 16000, tzinfo=UTC)
    assert ev.time.tzinfo is UTC
    assert ev.level == "WARNING"


def test_verify_failed_self_signed_depth_zero():
    evs, _ = events_of()
    w = next(e for e in evs if e.kind is EventKind.CERT_VERIFY_FAILED)
    assert (w.server_name, w.server_ip, w.server_port) == ("cucm.steven.lab", "10.48.36.215", 6972)
    assert (w.error, w.error_code, w.depth) == ("self signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT", 0)
    assert w.level == "WARNING"
    assert w.message.startswith("Core server certificate verification failed for (cucm.steven.lab)")


@pytest.mark.parametrize(
    ("error", "depth", "code"),
    [
        ("self signed certificate", 0, "DEPTH_ZERO_SELF_SIGNED_CERT"),
        ("self-signed certificate", 0, "DEPTH_ZERO_SELF_SIGNED_CERT"),  # OpenSSL 3 wording
        ("self signed certificate", 1, "SELF_SIGNED_CERT_IN_CHAIN"),  # depth > 0: an untrusted root
        ("self signed certificate in certificate chain", 2, "SELF_SIGNED_CERT_IN_CHAIN"),
        ("self-signed certificate in certificate chain", 1, "SELF_SIGNED_CERT_IN_CHAIN"),
        ("unable to get local issuer certificate", 1, "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
        ("certificate has expired", 0, "CERT_HAS_EXPIRED"),
        ("certificate is not yet valid", 0, "CERT_NOT_YET_VALID"),
        ("some words OpenSSL never wrote", 0, None),
    ],
)
def test_error_text_maps_to_x509_name(error, depth, code):
    ev = one("2022-07-11T18:55:26.016+02:00 vcsc traffic_server[1]: [ET_NET 0] WARNING: Core server "
             f"certificate verification failed for (a.lab). Action=Terminate Error={error} "
             f"server=a.lab(10.0.0.5) depth={depth}")
    assert (ev.error, ev.error_code, ev.depth) == (error, code, depth)
    assert (ev.server_name, ev.server_ip) == ("a.lab", "10.0.0.5")


def test_sni_not_in_cert_by_ip():
    evs, _ = events_of()
    w = next(e for e in evs if e.kind is EventKind.SNI_NOT_IN_CERT)
    assert (w.server_name, w.server_ip, w.server_port) == (None, "10.48.36.215", 8443)
    assert w.error_code == "IP_ADDRESS_MISMATCH"


@pytest.mark.parametrize(
    ("msg", "kind", "name", "ip", "code"),
    [
        ("Hostname verification failed for (cucm.lab). Action=Terminate", EventKind.HOSTNAME_VERIFY_FAILED,
         "cucm.lab", None, "HOSTNAME_MISMATCH"),
        ("IP verification failed for (10.1.2.3). Action=Terminate", EventKind.IP_VERIFY_FAILED,
         None, "10.1.2.3", "IP_ADDRESS_MISMATCH"),
        ("SNI (cucm.lab) not in certificate. Action=Terminate server=cucm.lab(10.1.2.3)",
         EventKind.SNI_NOT_IN_CERT, "cucm.lab", "10.1.2.3", "HOSTNAME_MISMATCH"),
    ],
)
def test_name_checks(msg, kind, name, ip, code):
    ev = one(f"2022-07-11T18:55:26.016+02:00 vcsc traffic_server[1]: [ET_NET 3] WARNING: {msg}")
    assert (ev.kind, ev.server_name, ev.server_ip, ev.error_code) == (kind, name, ip, code)


def test_ssl_connection_failed_reason_openssl1_and_3():
    e1 = one("2022-07-11T18:55:26.016+02:00 vcsc traffic_server[1]: [ET_NET 0] ERROR: SSL connection failed "
             "for 'cucm.steven.lab': error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed")
    e3 = one("2022-07-11T18:55:26.016+02:00 vcsc traffic_server[1]: [ET_NET 0] ERROR: SSL connection failed "
             "for 'cucm.steven.lab': error:0A000086:SSL routines::certificate verify failed")
    for e in (e1, e3):
        assert (e.kind, e.server_name, e.error, e.level) == (
            EventKind.SSL_CONNECTION_FAILED, "cucm.steven.lab", "certificate verify failed", "ERROR")


def test_alert_received_is_the_peer_rejecting_us():
    evs, _ = events_of()
    a = next(e for e in evs if e.kind is EventKind.ALERT_RECEIVED)
    assert (a.server_name, a.alert, a.error) == ("imp.steven.lab", "unknown_ca", "tlsv1 alert unknown ca")
    e3 = one("2024-01-01T00:00:00Z h traffic_server[1]: [ET_NET 0] ERROR: SSL connection failed for "
             "'10.0.0.9': error:0A000412:SSL routines::ssl/tls alert bad certificate")
    assert (e3.kind, e3.server_ip, e3.alert) == (EventKind.ALERT_RECEIVED, "10.0.0.9", "bad_certificate")


def test_padded_level_and_event_log_time():
    evs, _ = events_of()
    xcp = next(e for e in evs if e.process == "XCP_JABBERD")
    assert xcp.level == "INFO"
    last = evs[-1]
    assert last.kind is EventKind.EVENT and last.process == "tvcs" and last.pid is None
    assert last.fields["Event"] == "System Configuration Changed"


def test_event_log_line_without_prefix_uses_time_field_in_log_tz():
    line = 'Event="Request Allowed" Detail="Access allowed" Level="1" Time="2022/07/11-18:50:13"'
    assert one(line).time == datetime(2022, 7, 11, 18, 50, 13, tzinfo=UTC)
    assert one(line, log_tz="+02:00").time == datetime(2022, 7, 11, 16, 50, 13, tzinfo=UTC)


def test_event_request_url_names_server():
    evs, _ = events_of()
    ev = next(e for e in evs if e.kind is EventKind.EVENT)
    assert (ev.server_name, ev.server_port) == ("cucm.steven.lab", 8443)
    assert ev.message == "Request Allowed: Access allowed"


# --- base64 proxy targets, HTTPMSG blocks -----------------------------------------------------


def test_receive_request_target_names_server():
    evs, _ = events_of()
    rr = evs[0]
    assert rr.target is not None
    assert (rr.target.domain, rr.target.protocol, rr.target.host, rr.target.port) == (
        "steven.lab", "https", "cucm.steven.lab", 8443)
    assert (rr.server_name, rr.server_ip, rr.server_port) == ("cucm.steven.lab", None, 8443)
    assert rr.message.startswith("Receive Request: GET http://vcs_control")


def test_httpmsg_block_is_one_event_with_target_from_block():
    evs, _ = events_of()
    rr = next(e for e in evs if e.txn_id == "144")
    assert rr.line_no == 12
    assert rr.text.count("\n") == 4 and "|Accept: */*" in rr.text
    assert rr.target is not None and rr.target.host == "10.48.36.215" and rr.target.port == 8443
    assert (rr.server_ip, rr.server_port, rr.level) == ("10.48.36.215", 8443, "DEBUG")
    assert rr.message == "Receive Request: GET http://vcs_control.steven.lab:8443/" \
        "c3RldmVuLmxhYi9odHRwcy8xMC40OC4zNi4yMTUvODQ0Mw/cucm-uds/user/emusk/devices?max=100 HTTP/1.1"
    nxt = evs[evs.index(rr) + 1]
    assert nxt.line_no == 18 and nxt.kind is EventKind.REQUEST


def test_block_fed_line_by_line_completes_on_next_record_or_close():
    p = LineParser("x")
    assert p.feed('2024-01-01T00:00:00Z h traffic_server[1]: UTCTime="2024-01-01 00:00:00,000" '
                  'Level="DEBUG": Detail="Receive Request" Txn-id="1"') == []
    assert p.feed("HTTPMSG:") == []
    assert p.feed("|GET /x HTTP/1.1") == []
    done = p.close()
    assert len(done) == 1 and done[0].message == "Receive Request: GET /x HTTP/1.1"
    assert p.close() == []


# --- transactions -----------------------------------------------------------------------------


def test_transaction_ties_request_warning_error_and_502():
    evs, _ = events_of()
    t191 = [e for e in evs if e.transaction and e.transaction.endswith("#191")]
    assert [e.kind for e in t191] == [
        EventKind.REQUEST, EventKind.REQUEST, EventKind.CERT_VERIFY_FAILED,
        EventKind.SSL_CONNECTION_FAILED, EventKind.CONNECT_FAILED_502,
    ]
    # The warnings name no port and the 502 names no server: both come from the transaction.
    assert {(e.server_ip, e.server_port) for e in t191[1:]} == {("10.48.36.215", 6972)}
    t144 = [e for e in evs if e.transaction and e.transaction.endswith("#144")]
    assert [e.kind for e in t144][-3:] == [
        EventKind.SNI_NOT_IN_CERT, EventKind.SSL_CONNECTION_FAILED, EventKind.CONNECT_FAILED_502]
    alert = next(e for e in evs if e.kind is EventKind.ALERT_RECEIVED)
    assert alert.transaction is None and alert.server_port is None


def _req(t: str, txn: str, ip: str, port: int, pid: int = 7) -> str:
    return (f'2024-05-01T10:00:{t}Z e traffic_server[{pid}]: UTCTime="2024-05-01 10:00:{t}" Level="INFO": '
            f'Detail="Sending Request" Txn-id="{txn}" TrackingID="" Dst-ip="{ip}" Dst-port="{port}" Msg="GET / HTTP/1.1"')


def _warn(t: str, ip: str, pid: int = 7) -> str:
    return (f"2024-05-01T10:00:{t}Z e traffic_server[{pid}]: [ET_NET 0] WARNING: Core server certificate "
            f"verification failed for ({ip}). Action=Terminate Error=certificate has expired server={ip}({ip}) depth=0")


def test_warning_goes_to_the_unanswered_transaction_of_the_same_server():
    lines = [
        _req("01.000", "1", "10.0.0.5", 8443),
        _req("01.001", "2", "10.0.0.5", 6972),
        '2024-05-01T10:00:01.010Z e traffic_server[7]: UTCTime="2024-05-01 10:00:01,010" Level="INFO": '
        'Detail="Receive Response" Txn-id="1" Src-ip="10.0.0.5" Src-port="8443" Msg="HTTP/1.1 200 OK"',
        _warn("01.020", "10.0.0.5"),
    ]
    evs, _ = parse_lines(lines)
    assert evs[-1].transaction.endswith("#2") and evs[-1].server_port == 6972


def test_warning_not_tied_across_processes_or_beyond_the_window():
    evs, _ = parse_lines([_req("01.000", "1", "10.0.0.5", 8443), _warn("01.020", "10.0.0.5", pid=8)])
    assert evs[-1].transaction is None and evs[-1].server_port is None
    evs, _ = parse_lines([_req("01.000", "1", "10.0.0.5", 8443), _warn("50.000", "10.0.0.5")], txn_window=30.0)
    assert evs[-1].transaction is None
    evs, _ = parse_lines([_req("01.000", "1", "10.0.0.6", 8443), _warn("01.020", "10.0.0.5")])
    assert evs[-1].transaction is None


def test_tracking_id_alone_joins_the_transaction():
    evs, _ = parse_lines([
        _req("01.000", "5", "10.0.0.5", 8443).replace('TrackingID=""', 'TrackingID="abc"'),
        '2024-05-01T10:00:02Z e traffic_server[7]: UTCTime="2024-05-01 10:00:02,000" Level="INFO": '
        'Detail="Something" TrackingID="abc"',
    ])
    assert evs[0].transaction == evs[1].transaction is not None


# --- generic logs and time zones --------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "tz", "expected", "level"),
    [
        ("2024-03-01 10:00:00,123 ERROR ssl: handshake failed", None, datetime(2024, 3, 1, 10, 0, 0, 123000), "ERROR"),
        ("2024-03-01 10:00:00,123 WARN x", "+02:00", datetime(2024, 3, 1, 8, 0, 0, 123000), "WARNING"),
        ("2024-03-01T10:00:00.5Z [info] x", "+02:00", datetime(2024, 3, 1, 10, 0, 0, 500000), None),
        ("[2024-03-01 10:00:00 +0530] x", None, datetime(2024, 3, 1, 4, 30), None),
        ("2024-07-01 10:00:00 x", "Europe/Berlin", datetime(2024, 7, 1, 8, 0), None),  # CEST
        ("2024-01-01 10:00:00 x", "Europe/Berlin", datetime(2024, 1, 1, 9, 0), None),  # CET
        ("I0301 <2024-03-01T10:00:00.000001-08:00> x", None, datetime(2024, 3, 1, 18, 0, 0, 1), None),
    ],
)
def test_generic_timestamps(line, tz, expected, level):
    ev = one(line, log_tz=tz)
    assert ev.time == expected.replace(tzinfo=UTC)
    assert ev.level == level
    assert ev.kind is EventKind.OTHER


def test_mixed_time_zones_in_one_file_agree_on_the_instant():
    evs, s = parse_lines([
        "2024-03-01T10:00:00+01:00 a b[1]: [ET_NET 0] WARNING: x",
        "2024-03-01T09:00:00Z a b[1]: [ET_NET 0] WARNING: x",
        "2024-03-01T04:00:00-05:00 a b[1]: [ET_NET 0] WARNING: x",
    ])
    assert len({e.time for e in evs}) == 1 and s.skipped == 0


def test_generic_log_with_traffic_server_sentence_is_classified():
    ev = one("2024-03-01 10:00:00 ats: SSL connection failed for 'a.lab': error:0A000086:SSL routines::"
             "certificate verify failed")
    assert (ev.kind, ev.server_name) == (EventKind.SSL_CONNECTION_FAILED, "a.lab")


def test_bad_time_zone_is_an_input_error():
    with pytest.raises(InputError):
        LineParser("x", log_tz="Mars/Olympus_Mons")


# --- hostile lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("no time here at all", "no_timestamp"),
        ("2022-13-45T99:00:00+02:00 vcsc traffic_server[1]: [ET_NET 0] WARNING: x", "bad_timestamp"),
        ("2022-07-11T18:55:26+02:00 vcsc traffic_server[1]: UTCTime=\"garbage\" Level=\"INFO\"", None),
        ("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b", "binary"),
        ("   \t ", "blank"),
        ("|continuation without a record", "orphan_continuation"),
        ("2024-03-01T10:00:00+24:00 x", "bad_timestamp"),  # no such offset
    ],
)
def test_unusable_lines_are_counted_not_fatal(line, reason):
    evs, s = parse_lines([line])
    if reason is None:
        # A bad UTCTime falls back to the local stamp with its offset.
        assert len(evs) == 1 and evs[0].time == datetime(2022, 7, 11, 16, 55, 26, tzinfo=UTC)
    else:
        assert evs == [] and dict(s.reasons) == {reason: 1} and s.lines == 1


def test_nul_bytes_and_escape_sequences_are_removed():
    ev = one("2024-03-01T10:00:00Z h p[1]: [ET_NET 0] WARNING: SNI (\x00evil\x1b[31m\x9b2J.lab) not in certificate")
    assert "\x00" not in ev.text and "\x1b" not in ev.text and "\x1b" not in ev.message
    assert "\x9b" not in ev.text
    assert ev.kind is EventKind.SNI_NOT_IN_CERT


def test_long_lines_are_cut_and_counted():
    line = _warn("01.020", "10.0.0.5") + " " + "A" * 200_000
    evs, s = parse_lines([line], max_line=1000)
    assert s.cut_lines == 1 and len(evs[0].text) == 1000
    assert evs[0].kind is EventKind.CERT_VERIFY_FAILED


def test_block_is_capped():
    lines = [_req("01.000", "1", "10.0.0.5", 8443), "HTTPMSG:"] + ["|" + "x" * 100] * 50
    evs, s = parse_lines(lines, max_block=1000)
    assert len(evs) == 1 and len(evs[0].text) < 1300
    assert s.reasons["block_too_long"] > 0
    assert s.lines == evs[0].text.count("\n") + 1 + s.skipped


def test_transaction_memory_is_bounded():
    from pcaptls.logs import parser as mod

    p = LineParser("x")
    for i in range(mod.MAX_TXNS + 500):
        p.feed(_req("01.000", str(i), "10.0.0.5", 8443))
    p.close()
    assert len(p._txns) <= mod.MAX_TXNS


def test_events_are_frozen_and_hashable():
    ev = one(_warn("01.020", "10.0.0.5"))
    with pytest.raises(AttributeError):
        ev.kind = EventKind.OTHER  # type: ignore[misc]
    assert hash(ev) == hash(ev)
    assert ev.time - ev.time == timedelta(0)


def _et(t: str, thread: int, level: str, ip: str = "10.0.0.5") -> str:
    body = (f"Core server certificate verification failed for ({ip}). Action=Terminate "
            f"Error=self signed certificate server={ip}({ip}) depth=0" if level == "WARNING" else
            f"SSL connection failed for '{ip}': error:0A000086:SSL routines::certificate verify failed")
    return f"2024-05-01T10:00:{t}Z e traffic_server[7]: [ET_NET {thread}] {level}: {body}"


def test_concurrent_failures_to_one_server_go_to_their_own_transactions():
    lines = [
        _req("01.000", "1", "10.0.0.5", 6972),
        _req("01.005", "2", "10.0.0.5", 6972),
        _et("01.010", 0, "WARNING"),
        _et("01.012", 1, "WARNING"),
        _et("01.0101", 0, "ERROR"),  # out of time order on purpose: the thread decides
        _et("01.0121", 1, "ERROR"),
    ]
    evs, _ = parse_lines(lines)
    assert [e.transaction.rsplit("#", 1)[1] for e in evs[2:]] == ["1", "2", "1", "2"]
    assert [e.thread for e in evs[2:]] == ["ET_NET 0", "ET_NET 1", "ET_NET 0", "ET_NET 1"]


def test_an_old_keepalive_request_does_not_take_a_new_failure():
    lines = [
        _req("01.000", "1", "10.0.0.5", 8443),  # a long poll, still waiting for its response
        _req("20.000", "2", "10.0.0.5", 8443),
        _et("20.010", 0, "WARNING"),
        _et("20.011", 0, "ERROR"),
    ]
    evs, _ = parse_lines(lines)
    assert {e.transaction.rsplit("#", 1)[1] for e in evs[2:]} == {"2"}


def test_a_retry_within_the_transaction_stays_in_it():
    lines = [
        _req("01.000", "1", "10.0.0.5", 6972),
        _et("01.010", 0, "WARNING"), _et("01.011", 0, "ERROR"),
        _et("01.050", 2, "WARNING"), _et("01.051", 2, "ERROR"),
    ]
    evs, _ = parse_lines(lines)
    assert {e.transaction for e in evs} == {evs[0].transaction}


def test_generic_line_with_key_value_pairs_but_no_expressway_clock():
    ev = one('2024-03-01 10:00:00.250 proxy: level="warn" upstream="10.0.0.5:443" msg="handshake failed"',
             log_tz="-05:00")
    assert ev.time == datetime(2024, 3, 1, 15, 0, 0, 250000, tzinfo=UTC)
    assert ev.fields["upstream"] == "10.0.0.5:443"


def test_error_takes_the_server_of_its_threads_warning_without_request_lines():
    lines = [
        "2024-05-01T10:00:01.010Z e traffic_server[7]: [ET_NET 3] WARNING: Core server certificate verification "
        "failed for (cucm.lab). Action=Terminate Error=certificate has expired server=cucm.lab(10.0.0.5) depth=0",
        "2024-05-01T10:00:01.011Z e traffic_server[7]: [ET_NET 1] ERROR: SSL connection failed for 'other.lab': "
        "error:0A000086:SSL routines::certificate verify failed",
        "2024-05-01T10:00:01.011Z e traffic_server[7]: [ET_NET 3] ERROR: SSL connection failed for 'cucm.lab': "
        "error:0A000086:SSL routines::certificate verify failed",
    ]
    evs, _ = parse_lines(lines)
    assert (evs[2].server_name, evs[2].server_ip) == ("cucm.lab", "10.0.0.5")
    assert (evs[1].server_name, evs[1].server_ip) == ("other.lab", None)
    assert all(e.transaction is None for e in evs)


@pytest.mark.parametrize(
    ("line", "kind", "server", "alert"),
    [
        ('2024-05-01T10:00:01.000+02:00 vcsc tvcs: UTCTime="2024-05-01 08:00:01,000" Event="Outbound TLS '
         'Negotiation Error" Service="SIP" Src-ip="10.0.0.10" Src-port="25001" Dst-ip="10.0.0.5" Dst-port="5061" '
         'Detail="tlsv1 alert unknown ca" Protocol="TLS" Level="1"',
         EventKind.ALERT_RECEIVED, ("10.0.0.5", 5061), "unknown_ca"),
        ('2024-05-01T10:00:01.000+02:00 vcsc XCP_JABBERD[1]: UTCTime="2024-05-01 08:00:01,000" Level="INFO " '
         'Detail="STARTTLS failed" Server="imp.lab" Address="10.0.0.6:5222" Reason="certificate has expired"',
         EventKind.SSL_CONNECTION_FAILED, ("10.0.0.6", 5222), None),
        ('2024-05-01T10:00:01.000+02:00 vcsc tvcs: UTCTime="2024-05-01 08:00:01,000" Event="Call Attempted" '
         'Dst-ip="10.0.0.7" Dst-port="5061" Level="1"',
         EventKind.EVENT, ("10.0.0.7", 5061), None),
    ],
)
def test_event_log_tls_failures_and_destinations(line, kind, server, alert):
    ev = one(line)
    assert (ev.kind, (ev.server_ip, ev.server_port), ev.alert) == (kind, server, alert)


def test_a_request_sent_seconds_earlier_does_not_take_the_failure():
    lines = [
        _req("01.000", "1", "10.0.0.5", 8443),  # unanswered (slow), 2.6 s before
        _req("03.600", "2", "10.0.0.5", 6972),
        _req("03.601", "3", "10.0.0.5", 6972),
        _et("03.610", 0, "WARNING"), _et("03.611", 0, "ERROR"),
        _et("03.612", 1, "WARNING"), _et("03.613", 1, "ERROR"),
    ]
    evs, _ = parse_lines(lines)
    assert [e.transaction.rsplit("#", 1)[1] for e in evs[3:]] == ["2", "2", "3", "3"]
    assert {e.server_port for e in evs[3:]} == {6972}


def test_syslog_server_copy_without_year_takes_it_from_records_before():
    lines = [
        "Jul 11 18:55:26 vcsc traffic_server[18242]: [ET_NET 0] WARNING: SNI (10.0.0.5) not in certificate. "
        "Action=Terminate server=10.0.0.5(10.0.0.5)",  # nothing dated yet: no year to give it
        '<134>Jul 11 18:55:26 vcsc traffic_server[18242]: UTCTime="2022-07-11 16:55:26,006" Level="INFO": '
        'Detail="Sending Request" Txn-id="191" Dst-ip="10.48.36.215" Dst-port="6972" Msg="GET /x HTTP/1.1"',
        "Jul 11 18:55:26 vcsc traffic_server[18242]: [ET_NET 0] WARNING: Core server certificate verification "
        "failed for (cucm.steven.lab). Action=Terminate Error=self signed certificate "
        "server=cucm.steven.lab(10.48.36.215) depth=0",
        "Dec 31 23:59:59 vcsc tvcs: [ET_NET 0] WARNING: x",
        "Jan  1 00:00:01 vcsc tvcs: [ET_NET 0] WARNING: y",
    ]
    evs, s = parse_lines(lines, log_tz="+02:00")
    assert dict(s.reasons) == {"no_year": 1}
    req, warn, dec, jan = evs
    assert (warn.time, warn.host, warn.pid) == (datetime(2022, 7, 11, 16, 55, 26, tzinfo=UTC), "vcsc", 18242)
    assert warn.transaction == req.transaction and warn.server_port == 6972
    assert (dec.time.year, jan.time.year) == (2022, 2022) and jan.time - dec.time == timedelta(seconds=2)
