"""Facts about a TCP connection that every later stage shares: its two endpoints, and the
anomalies seen while following it (a gap, a cap hit, a parse error).

They live here, at the lowest stage that makes them, so that tcp/ needs nothing from tls/; the
TLS stage's :class:`~pcaptls.tls.model.TlsConnection` carries them on.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, TypeVar

_T = TypeVar("_T")


def pickled_by_fields(cls: type[_T]) -> type[_T]:
    """Pickle as the constructor's arguments. A split analysis sends its share's connections
    back to the parent; this halves the time over the default protocol for frozen slotted
    classes (state dict, then one ``object.__setattr__`` per field)."""
    get = attrgetter(*(f.name for f in fields(cls)))  # type: ignore[arg-type]
    one = len(fields(cls)) == 1  # type: ignore[arg-type]

    def __reduce__(self: Any) -> tuple[type[_T], tuple[Any, ...]]:
        return (cls, (get(self),) if one else get(self))

    cls.__reduce__ = __reduce__  # type: ignore[method-assign]
    return cls


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int

    def __str__(self) -> str:
        # IPv6 in brackets so "host:port" stays unambiguous.
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    @property
    def ip_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.ip)


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something in the capture that was not as it should be: a gap, a cap hit, a parse error."""

    kind: str  # "gap", "malformed", "cap", "truncated", "no_syn", ...
    detail: str
    time: float | None = None
    sender: str | None = None
