"""The `pcaptls` command line: the only module that assembles commands and prints."""

from __future__ import annotations

import click

import warnings

from cryptography.utils import CryptographyDeprecationWarning

from . import __version__
from .commands.certs import certs
from .commands.diagnose import diagnose, timeline
from .commands.inspect import inspect
from .commands.truststore import truststore

# Certificates off the wire are often not RFC 5280-clean (negative serials, ...): pcaptls reports
# on them rather than warning about them.
warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pcaptls")
def main() -> None:
    """pcaptls: which TLS handshakes in a packet capture failed, why, and what to change."""


main.add_command(inspect)
main.add_command(certs)
main.add_command(diagnose)
main.add_command(timeline)
main.add_command(truststore)


if __name__ == "__main__":
    main()
