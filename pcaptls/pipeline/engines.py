"""Which engine follows the packets: the Rust core (``pcaptls._core``) or the Python reference.

Both give the same connections, byte for byte (``tests/pipeline/test_engines.py`` holds them to it); the
Rust one is several times faster. The choice: ``--engine`` on the command line, else the
``PCAPTLS_ENGINE`` environment variable (``rust``, ``python`` or ``auto``), else ``auto``: Rust
when the extension is built, Python otherwise (a source checkout used without ``pip install``).
"""

from __future__ import annotations

import os

from ..errors import InputError

ENGINES = ("auto", "rust", "python")
ENV = "PCAPTLS_ENGINE"


def rust_available() -> bool:
    try:
        from .. import _core  # noqa: F401
    except ImportError:
        return False
    return True


def selected(engine: str | None = None) -> str:
    """``"rust"`` or ``"python"``: ``engine`` if given, else the environment's choice."""
    choice = (engine or os.environ.get(ENV) or "auto").strip().lower()
    if choice not in ENGINES:
        raise InputError(f"{ENV}={choice!r}: the engine is one of {', '.join(ENGINES)}")
    if choice == "auto":
        return "rust" if rust_available() else "python"
    if choice == "rust" and not rust_available():
        raise InputError("the Rust engine (pcaptls._core) is not built: `pip install .` builds it "
                         "(needs cargo), or use --engine python")
    return choice
