"""Where every command's output goes, and how wide its table may be: the output side shared by
all commands (``-o/--output``, ``--format`` inferred from the file name, the terminal's width,
details capped, the trust store stated for data formats).

- ``-o FILE`` writes what would have been printed, in the ``--format`` chosen, to ``FILE``;
  ``-o -`` (or no ``-o``) is standard output. Without ``--format``, a file named ``*.csv`` gets
  CSV and ``*.jsonl``/``*.json``/``*.ndjson`` JSON lines; anything else the table.
- A table written to a terminal is fitted to it (:func:`table_width`: ``$COLUMNS`` if set, else
  the terminal's width); a file or a pipe gets the whole table.
- Data formats (jsonl, csv) keep their stream to records only: what a person needs to read them
  right (which trust store judged the chains) goes to standard error (:func:`note`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import textwrap
from typing import Iterable, Iterator, TextIO

import click

from ..errors import InputError
from ..report.safe import terminal

output_option = click.option(
    "-o", "--output", "output", metavar="FILE", default=None,
    help="Write the output to FILE instead of printing it ('-': standard output), in the --format "
    "given; without --format, FILE's extension picks it (.csv, .jsonl), else the table.",
)

DETAILS_SHOWN = 20  # failure paragraphs a table prints before it only counts the rest

details_option = click.option(
    "--details", "details", type=click.IntRange(0), default=DETAILS_SHOWN, show_default=True, metavar="N",
    help="Failure paragraphs to print under the table (the rest are counted; jsonl/csv have them all).",
)

_BY_EXTENSION = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def output_format(fmt: str, output: str | None, choices: Iterable[str] = ("table", "jsonl", "csv")) -> str:
    """``--format`` as given; when it was left at its default and ``-o FILE`` names a ``.csv`` or
    ``.jsonl`` file (a format this command writes), that format."""
    ctx = click.get_current_context(silent=True)
    given = ctx is not None and ctx.get_parameter_source("fmt") not in (None, click.core.ParameterSource.DEFAULT)
    if given or output in (None, "-"):
        return fmt
    guessed = _BY_EXTENSION.get(os.path.splitext(output or "")[1].lower())
    return guessed if guessed in set(choices) else fmt


@contextlib.contextmanager
def opened(output: str | None) -> Iterator[TextIO]:
    """The stream to write to: standard output for ``None`` or ``-``, else ``output`` opened for
    writing (UTF-8, newlines as written: CSV rows end in ``\\n``). A file that cannot be opened is an
    :class:`~pcaptls.errors.InputError` (one line, exit 2) before anything is written."""
    if output is None or output == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        fh = open(output, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise InputError(f"{output}: cannot write: {e.strerror or e}") from e
    with fh:
        yield fh


def output_stream(output: str | None) -> TextIO:
    """:func:`opened` for the running command: the file is opened now (a path that cannot be
    written fails before any capture is read) and closed when the command ends, however it ends."""
    return click.get_current_context().with_resource(opened(output))


def to_file(output: str | None) -> bool:
    """Does ``-o`` name a file (not standard output)?"""
    return output is not None and output != "-"


def table_width(out: TextIO) -> int | None:
    """How wide a table written to ``out`` may be: when ``out`` is a terminal, ``$COLUMNS`` if set,
    else the terminal's width (:func:`shutil.get_terminal_size`); ``None`` (no limit) for files and
    pipes, whatever ``$COLUMNS`` says (test runners and shells leave it set for pipes too)."""
    try:
        if out.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


def wrapped(lines: Iterable[str], width: int | None) -> Iterator[str]:
    """Lines of prose (findings, paragraphs) wrapped to ``width``, continuation lines indented
    two more than the line they continue; unchanged when ``width`` is ``None``."""
    for line in lines:
        if width is None or len(line) <= width:
            yield line
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")))
        yield from textwrap.wrap(line, width=width, subsequent_indent=indent + "  ",
                                 break_long_words=True, break_on_hyphens=False) or [""]


def capped(paragraphs: Iterable[str], limit: int) -> Iterator[str]:
    """The first ``limit`` non-empty paragraphs, then one line counting the ones left out."""
    shown = left = 0
    for p in paragraphs:
        if not p:
            continue
        if shown < limit:
            shown += 1
            yield p
        else:
            left += 1
    if left:
        yield (f"({left} more connection{'s' if left != 1 else ''} not detailed here: --details N shows more, "
               "--format jsonl or csv lists every one)\n")


def note(message: str) -> None:
    """A line for the person running a data format (jsonl, csv): on standard error, so that the
    records stream stays records only."""
    click.echo(terminal(message), err=True)
