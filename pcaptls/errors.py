"""The project's exception family: one base, malformed input, truncated input.

Third-party exceptions are wrapped at the boundary with ``raise ... from e`` so callers only
ever need to catch :class:`PcaptlsError`.
"""

from __future__ import annotations


class PcaptlsError(Exception):
    """Base of every error pcaptls raises on purpose."""


class MalformedError(PcaptlsError):
    """Input bytes do not follow the format they claim (bad magic, impossible length, ...)."""


class TruncatedError(MalformedError):
    """Input ends before a structure it started is complete (a capture cut while being written)."""


class InputError(PcaptlsError):
    """A file given by the user cannot be used at all (missing, unreadable, not a capture)."""
