"""The `pcaptls` command line: the only module that assembles commands and prints."""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
import warnings
from typing import Any, NoReturn

import click

from . import __version__


class _ByName(type):
    """Makes a class stand for ``cryptography.utils.CryptographyDeprecationWarning`` in warning
    filters (which ask ``issubclass``), so that cryptography is not imported to name it: help,
    bad input and captures without certificates never load it."""

    def __subclasscheck__(cls, sub: type) -> bool:
        return any(k.__name__ == "CryptographyDeprecationWarning" and k.__module__ == "cryptography.utils"
                   for k in getattr(sub, "__mro__", ()))


class _CryptographyDeprecationWarning(Warning, metaclass=_ByName):
    pass


# Certificates off the wire are often not RFC 5280-clean (negative serials, ...): pcaptls reports
# on them rather than warning about them.
warnings.filterwarnings("ignore", category=_CryptographyDeprecationWarning)

# Each command's module (and what it pulls in: cryptography's X.509, logs, correlation, ...) is
# imported only when that command runs, or when `pcaptls --help` lists them all.
_COMMANDS = {
    "inspect": "pcaptls.commands.inspect:inspect",
    "certs": "pcaptls.commands.certs:certs",
    "diagnose": "pcaptls.commands.diagnose:diagnose",
    "timeline": "pcaptls.commands.diagnose:timeline",
    "truststore": "pcaptls.commands.truststore:truststore",
    "report": "pcaptls.commands.report:report",
}


class LazyGroup(click.Group):
    """A group whose subcommands are ``module:attribute`` names, imported on first use."""

    def __init__(self, *args: object, lazy_commands: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, attr = self.lazy_commands[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """As the program (the ``pcaptls`` script, ``python -m pcaptls``): run, then leave at
        once. Interpreter teardown frees every object and module one by one, 25 ms after a
        small capture and 40-100 ms after a large one, for nothing: the output is flushed and
        the exit handlers run here first. (Tests call :meth:`main`, which returns or raises.)"""
        try:
            return self.main(*args, **kwargs)
        except SystemExit as e:
            _leave(e)

    def invoke(self, ctx: click.Context) -> object:
        # click would turn Ctrl-C into "Aborted!" and exit 1, the code for "failures found".
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            sys.exit(130)  # 128 + SIGINT, as shells report it

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in self.lazy_commands:
            # Not a command name: load them all, so that click's "Did you mean ...?" sees every one.
            for name in self.lazy_commands:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


def _leave(done: SystemExit) -> NoReturn:
    """Exit with ``done``'s status without tearing the interpreter down, when nothing else can
    be running: else (a thread left, output that cannot be flushed) the usual way."""
    code = done.code
    if threading.active_count() == 1 and isinstance(code, (int, type(None))):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            raise done from None
        os._exit(code or 0)
    raise done


@click.group(cls=LazyGroup, lazy_commands=_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pcaptls")
@click.option("--engine", type=click.Choice(["auto", "rust", "python"]), default=None,
              help="Which engine follows the packets: the Rust core, or the pure-Python reference "
              "(same output, slower). [default: $PCAPTLS_ENGINE, else auto: Rust when built]")
def main(engine: str | None) -> None:
    """pcaptls: which TLS handshakes in a packet capture failed, why, and what to change."""
    from .errors import PcaptlsError
    from .pipeline import engines

    if engine is not None:
        # Through the environment, so that worker processes (--jobs) use the same engine.
        os.environ[engines.ENV] = engine
    try:
        engines.selected()  # a wrong $PCAPTLS_ENGINE, or --engine rust unbuilt: said once, up front
    except PcaptlsError as e:
        click.echo(f"pcaptls: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
