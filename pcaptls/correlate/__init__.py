"""Capture connections + log events -> one clock, each log event tied to its connection, a timeline.

    link.py      candidates by server (address:port, address, SNI), the clock offset between log
                 and capture (estimated by vote, or forced), attempts aligned to connections
    timeline.py  capture and log events as one pandas DataFrame, sorted by time

No I/O here: the capture and log readers produce the inputs, the CLI writes the outputs::

    conns = analyse("capture.pcap").connections
    events, summary = read_logs(["loggingsnapshot.txt"], log_tz=None)  # summary: skipped lines
    corr = correlate(conns, events)        # clock_offset=4.75 forces the log-minus-capture offset
    print(corr.offset)                     # "+4.750 s (estimated from 31 events, spread 0.001 s)"
    df = build_timeline(conns, corr)       # one row per capture and log event, sorted by time
"""

from typing import Any

from .link import ClockOffset, Correlation, Link, correlate, estimate_offset


def __getattr__(name: str) -> Any:
    # pandas costs ~0.2 s and ~50 MB to import: only the timeline needs it, so load it on use.
    if name == "build_timeline":
        from .timeline import build_timeline

        return build_timeline
    raise AttributeError(name)


__all__ = ["ClockOffset", "Correlation", "Link", "build_timeline", "correlate", "estimate_offset"]
