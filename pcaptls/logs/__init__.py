"""Text logs (Cisco Expressway first, any ISO-timestamped log second) -> timestamped events.

The stage is a small pipeline of its own, one module per step:

    reader.py      files, folders, .tar.gz diagnostic bundles -> capped, decoded lines (only I/O)
    parser.py      lines -> records (HTTPMSG blocks joined) -> LogEvent, transactions tied together
    expressway.py  what Expressway writes: key="value" fields, traffic_server sentences,
                   base64 proxy targets, OpenSSL error wording -> X509_V_ERR names
    timestamps.py  local stamps with or without offset -> aware UTC datetimes
    events.py      LogEvent, EventKind, ParseSummary (the contract with correlate/ and report/)

Line shapes read (see ``DOMAIN.md``): Expressway ``<ISO time+offset> host process[pid]: ...``
records with ``key="value"`` fields (``UTCTime`` wins over the local stamp; ``Time=`` event-log
stamps; padded ``Level="INFO "``); traffic_server ``[ET_NET n] WARNING:/ERROR:`` sentences
(certificate verification failed, SNI not in certificate, hostname/IP verification failed, SSL
connection failed, received alerts); ``HTTPMSG:`` blocks; base64 proxy targets; event-log TLS
failures; the same lines as a syslog server stores them (``Jul 11 18:55:26 host proc[pid]:``,
year taken from the records before); and any other text line with an ISO-8601-like time near its
start (``log_tz`` for stamps without offset).

Nothing here raises on log content: unusable lines are counted in the :class:`ParseSummary` by
reason. Only a path that cannot be opened, or a time zone that does not exist, raises
:class:`~pcaptls.errors.InputError`.
"""

from .events import EventKind, LogEvent, ParseSummary, ProxyTarget
from .parser import LineParser, parse_lines
from .reader import LogReader, read_logs

__all__ = [
    "EventKind",
    "LineParser",
    "LogEvent",
    "LogReader",
    "ParseSummary",
    "ProxyTarget",
    "parse_lines",
    "read_logs",
]
