"""report.records: connection_line() writes what jsonl() of connection_record() writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcaptls.certificates import truststore
from pcaptls.certificates.verdicts import Judge
from pcaptls.pipeline.analysis import analyse
from pcaptls.report import writers
from pcaptls.report.records import (
    connection_line,
    connection_record,
    json_text,
    verdict_record,
)
from tests.helpers.paths import CAPTURES, corpus_files

FILES = sorted(CAPTURES.glob("*/*.pcap")) + corpus_files()


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(truststore.load(None))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_connection_line_is_the_record_as_json(path: Path, judge: Judge) -> None:
    conns = analyse(path).connections
    for c in conns:
        v = verdict_record(judge.verdict(c)) if c.server_certs else None
        rec = connection_record(c, v, with_verify=True)
        line = connection_line(c, None if v is None else json_text(v))
        assert line == writers.jsonl((rec,))
        assert connection_line(c, None if v is None else json_text(v), str(path)) == writers.jsonl(({**rec, "capture": str(path)},))
