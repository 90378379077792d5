"""Print the volume fuzzer's counts at the end of the run (``make fuzz``)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # The engine module, not the test module: pytest imports test modules under the package
    # name (tests.fuzz...), so a list kept there would be another copy than this import sees.
    from tests.fuzz import engine

    for text in engine.REPORTS:
        terminalreporter.write_sep("=", "fuzz counts")
        terminalreporter.write_line(text)
