"""What the capture stage hands on: frames, and what the reader saw while streaming them."""

from __future__ import annotations

from dataclasses import dataclass, field

Frame = tuple[int, float, int, bytes, int]  # (frame number, epoch seconds, linktype, data, wire length)


@dataclass(slots=True)
class ReadStats:
    """What the reader saw; filled in while frames are streamed."""

    path: str
    format: str = "unknown"
    frames: int = 0
    bytes_read: int = 0
    snapped: int = 0  # frames captured shorter than on the wire (snaplen)
    linktypes: set[int] = field(default_factory=set)
    truncated: str | None = None  # why the file ended early, if it did
    trace: str | None = field(default=None, repr=False)  # traceback of the error behind ``truncated`` (--debug)
    errors: list[str] = field(default_factory=list)
