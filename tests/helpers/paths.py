"""Where the tests find their inputs: the project's lab captures, and the public corpus beside
the checkout (``../shared/corpus``, or ``$PCAPTLS_CORPUS``), never copied into the project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("PCAPTLS_CORPUS", ROOT.parent / "shared" / "corpus"))
CAPTURES = ROOT / "captures"


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng") or p.name.endswith((".pcap.gz", ".pcapng.gz")))


def require_corpus_file(name: str) -> Path:
    p = CORPUS / name
    if not p.exists():
        pytest.skip(f"{name} not in the corpus at {CORPUS}")
    return p
