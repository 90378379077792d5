"""Capture connections + log events -> one clock, each log event tied to its connection, a timeline.

    link.py      candidates by server (address:port, address, SNI), the clock offset between log
                 and capture (estimated by vote, or forced), attempts aligned to connections
    timeline.py  capture and log events in time order: rows one at a time (the CLI), or one
                 pandas DataFrame (notebooks; pandas is imported only then)

No I/O here: the capture and log readers produce the inputs, the CLI writes the outputs::

    conns = analyse("capture.pcap").connections
    events, summary = read_logs(["loggingsnapshot.txt"], log_tz=None)  # summary: skipped lines
    corr = correlate(conns, events)        # clock_offset=4.75 forces the log-minus-capture offset
    print(corr.offset)                     # "+4.750 s (estimated from 31 events, spread 0.001 s)"
    df = build_timeline(conns, corr)       # one row per capture and log event, sorted by time
    for row in timeline_rows(conns, corr): ...   # the same rows as dicts, made as they are read
"""

from .link import ClockOffset, Correlation, Link, correlate, estimate_offset
from .timeline import build_timeline, timeline_rows

__all__ = ["ClockOffset", "Correlation", "Link", "build_timeline", "correlate", "estimate_offset", "timeline_rows"]
