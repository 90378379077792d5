"""``python -m pcaptls``: the same command line as ``pcaptls``."""

from .cli import main

main(prog_name="pcaptls")
