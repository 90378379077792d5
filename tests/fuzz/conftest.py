"""Print the volume fuzzer's counts at the end of the run (``make fuzz``)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from fuzz.test_fuzz_volume import REPORTS

    for text in REPORTS:
        terminalreporter.write_sep("=", "fuzz counts")
        terminalreporter.write_line(text)
