"""Real server chains from ``../shared/corpus``: pcaptls' verdicts against ``openssl verify``.

Chains are extracted with tshark (independent of pcaptls' own TLS parser): for each TCP stream the
first Certificate message sent by the side that did not send the ClientHello, the handshake's
time, and the SNI (without SNI the server's IP address, as Expressway checks). Each is verified
with the system CA bundle at the capture time by pcaptls and by ``openssl verify``, once with
its defaults and once with ``-purpose sslserver`` (as a TLS client judges).

Every chain must agree. Measured: 48 of 48 server chains agree (100%), verdicts OK,
UNABLE_TO_GET_ISSUER_CERT_LOCALLY at depths 0-2, SELF_SIGNED_CERT_IN_CHAIN at 2, IP_ADDRESS_MISMATCH at 0.
Before pcaptls read certificates leniently (:mod:`pcaptls.certificates.lenient`) 47 agreed: the
server certificate in ``tls__CVE-2015-3194.pcap`` has RSA-PSS parameters malformed on purpose (a
mask generation function without its hash: CVE-2015-3194 is OpenSSL's NULL dereference on it).
OpenSSL 3.0 parses it and reports UNABLE_TO_GET_ISSUER_CERT_LOCALLY at depth 0; ``cryptography``
refuses it, and pcaptls said it could not judge the chain. It now reads it as OpenSSL does (with
an anomaly naming the malformed parameters).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pcaptls.certificates.openssl.chain import verify_chain
from pcaptls.certificates.truststore import load
from pcaptls.errors import MalformedError
from tests.helpers import certgen

CORPUS = Path(os.environ.get("PCAPTLS_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "corpus"))
SYSTEM_CAS = Path("/etc/ssl/certs/ca-certificates.crt")
TSHARK = shutil.which("tshark")

pytestmark = [
    pytest.mark.slow,
    # real old certificates with negative serial numbers: cryptography warns, OpenSSL accepts
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}"),
    pytest.mark.skipif(TSHARK is None, reason="tshark not installed"),
    pytest.mark.skipif(certgen.OPENSSL is None, reason="openssl CLI not installed"),
    pytest.mark.skipif(not SYSTEM_CAS.is_file(), reason=f"no system CA bundle at {SYSTEM_CAS}"),
]

_FIELDS = ["tcp.stream", "frame.time_epoch", "tls.handshake.type", "tls.handshake.extensions_server_name",
           "tls.handshake.certificate", "ip.src", "ipv6.src", "tcp.srcport"]


def server_chains(path: Path) -> list[tuple[str, float, str, list[bytes]]]:
    """(stream id, time, name to check, chain DER) for each stream's server Certificate."""
    args = [TSHARK, "-r", str(path), "-n", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a",
            "-Y", "tls.handshake.type == 1 or tls.handshake.type == 11"]
    for f in _FIELDS:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    client: dict[str, tuple[str, str]] = {}
    sni: dict[str, str] = {}
    out: list[tuple[str, float, str, list[bytes]]] = []
    done: set[str] = set()
    for line in r.stdout.splitlines():
        stream, t, types, names, certs, ip4, ip6, port = line.split("|")
        src = ((ip4 or ip6).split(",")[0], port.split(",")[0])
        kinds = types.split(",")
        if "1" in kinds:
            client.setdefault(stream, src)
            if names:
                sni.setdefault(stream, names.split(",")[0])
        if "11" in kinds and certs and stream not in done and client.get(stream) != src:
            done.add(stream)
            chain = [bytes.fromhex(c.replace(":", "")) for c in certs.split(",")]
            out.append((f"{path.name}#{stream}", float(t), sni.get(stream) or src[0], chain))
    return out


@pytest.mark.parametrize("purpose", [None, "sslserver"])
def test_corpus_verdicts_agree_with_openssl(purpose: str | None) -> None:
    store = load(SYSTEM_CAS)
    total, diffs = 0, []
    for path in sorted(CORPUS.glob("*.pcap*")):
        for ident, t, name, chain in server_chains(path):
            at = datetime.fromtimestamp(t, timezone.utc)
            oracle = certgen.openssl_verify(chain[0], chain[1:], list(store.certs), at, name, purpose)
            try:
                v = verify_chain(chain, store, at, name, purpose)
                ours: tuple[str, int | None] = (v.error, v.depth)
            except MalformedError:
                ours = ("undecodable", None)
            total += 1
            if ours != (oracle.error, oracle.depth):
                diffs.append(f"{ident} {name}: pcaptls {ours}, openssl {oracle.error}@{oracle.depth}")
    assert total >= 30, f"only {total} server chains found in the corpus"
    agreement = 1 - len(diffs) / total
    assert not diffs, f"{agreement:.1%} of {total} agree; differences:\n" + "\n".join(diffs)
