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
