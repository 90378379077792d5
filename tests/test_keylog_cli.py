"""``--keylog`` on the commands: TLS 1.3 diagnosed like its TLS 1.2 twin, certificates exported,
keys never printed, a bad key log is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcaptls.cli import main
from pcaptls.tls import keylog
from tests.helpers.paths import CAPTURES

KEYS = CAPTURES / "keylog"


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def _finding(version: str) -> dict[str, object]:
    code, out, _err = _run("diagnose", str(KEYS / f"{version}.pcap"), "--keylog", str(KEYS / f"{version}.keys"),
                           "--trust-store", str(KEYS / "ca.pem"), "--format", "jsonl")
    assert code == 1
    f = next(json.loads(line) for line in out.splitlines() if json.loads(line)["server"] == "127.0.0.1:6972")
    return {"problem": f["problem"], "chain": f["chain_sha256"], "verify": f["verify"], "fixes": f["fixes"],
            "evidence": [e["text"].split(": ", 1)[1] for e in f["evidence"]]}


@pytest.mark.engines
def test_tls13_diagnosed_as_its_tls12_twin() -> None:
    """The 6972 server (self-signed P-384, CertificateRequest, the client's unknown_ca) in TLS 1.3
    with the key log gives the finding TLS 1.2 gives in clear."""
    tls13, tls12 = _finding("tls13"), _finding("tls12")
    assert tls13 == tls12
    assert "DEPTH_ZERO_SELF_SIGNED_CERT" in str(tls13["problem"])
    assert "client sent Alert (Level: Fatal, Description: Unknown CA)" in tls13["evidence"]  # type: ignore[operator]


def test_keys_never_printed(tmp_path: Path) -> None:
    secrets = {v.hex() for name in ("tls13", "tls12") for d in keylog.load(KEYS / f"{name}.keys").secrets.values()
               for v in d.values()}
    texts = []
    for args in (["inspect", "--format", "jsonl"], ["inspect"], ["inspect", "--format", "csv"], ["timeline"],
                 ["diagnose"], ["certs", "--export", str(tmp_path / "out")]):
        for name in ("tls13", "tls12"):
            code, out, err = _run(*args, str(KEYS / f"{name}.pcap"), "--keylog", str(KEYS / f"{name}.keys"))
            assert code in (0, 1), err
            texts.append(out + err)
    texts += [p.read_text() for p in (tmp_path / "out").iterdir()]
    blob = "\n".join(texts).lower()
    assert not [s for s in secrets if s in blob]
    assert "key log: 9 tls sessions" in blob


def test_certs_export_decrypted_chain(tmp_path: Path) -> None:
    code, _out, _err = _run("certs", str(KEYS / "tls13.pcap"), "--export", str(tmp_path / "plain"))
    # all encrypted; exit 1: a handshake in it failed (the exit status every command gives then)
    assert code == 1 and not list((tmp_path / "plain").glob("*.pem"))
    code, _out, _err = _run("certs", str(KEYS / "tls13.pcap"), "--keylog", str(KEYS / "tls13.keys"),
                            "--export", str(tmp_path / "keys"))
    names = sorted(p.name for p in (tmp_path / "keys").glob("*.pem"))
    assert code == 1 and "chain_127.0.0.1_6972.pem" in names


def test_jsonl_without_keys_is_unchanged_by_an_unrelated_key_log() -> None:
    _c1, plain, _e = _run("inspect", "--format", "jsonl", str(KEYS / "tls13.pcap"))
    _c2, other, _e = _run("inspect", "--format", "jsonl", str(KEYS / "tls13.pcap"), "--keylog", str(KEYS / "tls12.keys"))
    assert plain == other and '"certificates_visible":false' in plain


def test_bad_key_log_is_one_line(tmp_path: Path) -> None:
    code, out, err = _run("inspect", str(KEYS / "tls13.pcap"), "--keylog", str(tmp_path / "missing.keys"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such file" in err


# The lab's key-log scenarios: Python ssl peers between network namespaces wrote keylog.txt.
LAB13, LAB12, TWIN = (CAPTURES / n for n in ("11-tls13-keylog", "12-tls12-keylog", "02-tftp-6972-selfsigned-ecdsa"))


def _lab_findings(folder: Path, keys: bool = True) -> list[dict[str, object]]:
    args = ["diagnose", str(folder / "capture.pcap"), "--trust-store", str(folder / "truststore.pem"),
            "--format", "jsonl"]
    if keys and (folder / "keylog.txt").is_file():
        args += ["--keylog", str(folder / "keylog.txt")]
    code, out, err = _run(*args)
    assert code == 1, err
    return [json.loads(line) for line in out.splitlines()]


def _without_identity(f: dict[str, object]) -> dict[str, object]:
    """A finding with the certificate's own identity (fingerprint, serial, dates: new on every lab
    run) and the connections' ports and times taken out; all the rest must match."""
    text = json.dumps(f)
    for sha in f["chain_sha256"]:  # type: ignore[union-attr]
        text = text.replace(sha, "SHA").replace(sha[:16], "SHA")
    g = json.loads(text)
    g["certificate"] = {k: v for k, v in g["certificate"].items() if k not in ("serial", "not_before", "not_after")}
    g["evidence"] = [e["text"].split(": ", 1)[1] for e in g["evidence"]]
    g.pop("trust_store", None)  # each scenario's own file
    del g["connections"]
    return g  # type: ignore[no-any-return]


@pytest.mark.engines
def test_lab_tls13_diagnosed_as_its_tls12_twin() -> None:
    """11-tls13-keylog with its key log gives the finding 02-tftp-6972-selfsigned-ecdsa gives in
    clear (two attempts each at the self-signed P-384 server on 6972), and the very certificate
    12-tls12-keylog's TLS 1.2 connection to that server shows in clear (same lab run)."""
    (tls13,) = _lab_findings(LAB13)
    (twin,) = _lab_findings(TWIN)
    assert _without_identity(tls13) == _without_identity(twin)
    assert "DEPTH_ZERO_SELF_SIGNED_CERT" in str(tls13["problem"]) and tls13["failed_connections"] == 2
    (tls12,) = _lab_findings(LAB12, keys=False)
    assert tls12["server"] == tls13["server"]
    assert (tls12["chain_sha256"], tls12["certificate"], tls12["verify"]) == (
        tls13["chain_sha256"], tls13["certificate"], tls13["verify"])


@pytest.mark.engines
def test_lab_tls13_without_its_key_log_has_no_chain() -> None:
    """The key log is what shows the chain: without it the 6972 finding names no certificate."""
    (found,) = _lab_findings(LAB13, keys=False)
    assert found["server"] == "10.48.36.215:6972" and found["failed_connections"] == 2
    assert (found["chain_sha256"], found["certificate"], found["verify"]) == ([], None, None)
    assert found["problem"] == "client sent fatal alert unknown_ca"
