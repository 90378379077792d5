"""Types of the Rust engine's extension module (rust/python/src/lib.rs)."""

from typing import Any, Iterator

from .tls.model import TlsConnection

class Scan:
    """One share of one capture, scanned on a thread of its own; iterate for batches."""

    bytes_read: int

    def __init__(self, path: str, share: int = 0, shares: int = 1, data: bytes | None = None,
                 sealed: bool = False) -> None: ...
    def __iter__(self) -> Iterator[list[TlsConnection]]: ...
    def __next__(self) -> list[TlsConnection]: ...
    def summary(self) -> dict[str, Any]: ...

def sample(path: str, max_bytes: int) -> tuple[int, int, int] | None:
    """(frames, bytes read, TCP SYNs without ACK) of the capture's first ``max_bytes``, or None
    when it cannot be read as a capture."""
