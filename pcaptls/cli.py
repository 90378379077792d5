"""The `pcaptls` command line: the only module that assembles commands and prints."""

from __future__ import annotations

import click

from . import __version__
from .commands.inspect import inspect


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pcaptls")
def main() -> None:
    """pcaptls: which TLS handshakes in a packet capture failed, why, and what to change."""


main.add_command(inspect)


if __name__ == "__main__":
    main()
