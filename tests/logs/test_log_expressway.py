"""pcaptls.logs.expressway: fields, base64 proxy targets, OpenSSL wording."""

from __future__ import annotations

import base64

import pytest

from pcaptls.logs import expressway as xw


def b64(s: str, *, urlsafe: bool = False, pad: bool = False) -> str:
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(s.encode()).decode()
    return enc if pad else enc.rstrip("=")


def test_target_from_the_article():
    t = xw.proxy_target("GET http://vcs_control.steven.lab:8443/c3RldmVuLmxhYi9odHRwcy8xMC40OC4zNi4yMTUvODQ0Mw/"
                        "cucm-uds/user/emusk/devices?max=100 HTTP/1.1")
    assert t is not None
    assert (t.domain, t.protocol, t.host, t.port, t.encoded) == (
        "steven.lab", "https", "10.48.36.215", 8443, "c3RldmVuLmxhYi9odHRwcy8xMC40OC4zNi4yMTUvODQ0Mw")


@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_target_padding_and_alphabet(pad, urlsafe):
    seg = b64("example.com/https/cucm1.example.com/6972", urlsafe=urlsafe, pad=pad)
    t = xw.proxy_target(f"GET /{seg}/CSFuser.cnf.xml HTTP/1.1")
    assert t is not None and (t.host, t.port) == ("cucm1.example.com", 6972)
    assert t.encoded == seg.rstrip("=")


@pytest.mark.parametrize(
    "template",
    [
        "GET http://vcs_control.lab:8443/{seg}/path/x HTTP/1.1",
        "GET /a/b/c/{seg}?max=100 HTTP/1.1",
        "GET /{seg}",
        "http://h/{seg}#frag",
        "GET /QUJDREVGR0hJSktMTU5PUA/{seg}/x HTTP/1.1",  # another base64 segment comes first
    ],
)
def test_target_anywhere_in_the_path(template):
    seg = b64("d.lab/https/host-1.d.lab/8443")
    t = xw.proxy_target(template.format(seg=seg))
    assert t is not None and (t.domain, t.host, t.port) == ("d.lab", "host-1.d.lab", 8443)


def test_ascii_targets_never_encode_to_a_slash():
    # Why proxy_target looks at single path segments only.
    import string

    for a in string.ascii_lowercase + string.digits + "-.":
        plain = f"lab/https/{a}{a}x.lab/8443"
        assert "/" not in b64(plain) and "/" not in b64(plain[1:]) and "/" not in b64(plain[2:])


def test_target_ipv6_host():
    t = xw.proxy_target("/" + b64("lab/https/[2001:db8::5]/8443") + "/x")
    assert t is not None and t.host == "2001:db8::5"


@pytest.mark.parametrize(
    "text",
    [
        "GET /cucm-uds/user/emusk/devices HTTP/1.1",  # no target at all
        "GET /c3RldmVuLmxhYi9odHRwcy9jdWNTLnN0ZXZlbi5sYWVvODQ0Mw/x HTTP/1.1",  # OCR-damaged in the article
        "/" + b64("just some text that is long") + "/",
        "/" + b64("lab/https/host/99999") + "/",  # no such port
        "/" + "A" * 5000 + "/",
        "/" + "/".join(["QUJD"] * 500),  # many slashes: bounded work
    ],
)
def test_no_target(text):
    assert xw.proxy_target(text) is None


def test_fields_first_occurrence_and_odd_keys():
    f = xw.fields('Detail="A" Detail="B" Last-via-addr="" X.y="1" Msg="GET / HTTP/1.1"')
    assert f == {"Detail": "A", "Last-via-addr": "", "X.y": "1", "Msg": "GET / HTTP/1.1"}


def test_traffic_server_unknown_sentence_is_other():
    assert xw.traffic_server_message("Traffic Server is fully initialized").kind.value == "other"


@pytest.mark.parametrize(
    ("reason", "alert"),
    [
        ("error:14094418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca", "unknown_ca"),
        ("error:14094412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate", "bad_certificate"),
        ("error:0A00045C:SSL routines::tlsv13 alert certificate required", "certificate_required"),
        ("error:0A000410:SSL routines::sslv3 alert handshake failure", "handshake_failure"),
        ("error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed", None),
    ],
)
def test_alerts(reason, alert):
    ts = xw.traffic_server_message(f"SSL connection failed for 'x.lab': {reason}")
    assert ts.alert == alert
    assert ts.kind.value == ("alert_received" if alert else "ssl_connection_failed")
