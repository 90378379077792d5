"""``--keylog FILE``: TLS session secrets for the commands that read captures."""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import click

from ..pipeline.analysis import using_keys

F = TypeVar("F", bound=Callable[..., Any])


def keylog_option(fn: F) -> F:
    """Add ``--keylog`` (repeatable) to a command; the analyses it runs then decrypt TLS 1.3
    handshakes and TLS 1.2 alerts of the sessions the files have secrets for. Put it below
    ``handle_errors``, so that an unreadable key log is one line and exit 2. A summary (counts,
    never a secret) goes to stderr."""

    @functools.wraps(fn)
    def wrapper(*args: Any, keylogs: tuple[str, ...] = (), **kwargs: Any) -> Any:
        if not keylogs:
            return fn(*args, **kwargs)
        from ..tls import keylog

        keys = keylog.KeyLog()
        for path in keylogs:
            keys.merge(keylog.load(path))
        click.echo(keys.summary(), err=True)
        with using_keys(keys):
            return fn(*args, **kwargs)

    return click.option(  # type: ignore[return-value]
        "--keylog", "keylogs", multiple=True, type=click.Path(dir_okay=False),
        help="TLS key log (NSS format, as SSLKEYLOGFILE writes it; repeatable): decrypt TLS 1.3 handshakes "
             "(certificates, CertificateRequest, alerts) and TLS 1.2 encrypted alerts. Secrets in a pcapng "
             "capture's Decryption Secrets Blocks are used without it.",
    )(wrapper)
