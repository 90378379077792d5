#!/usr/bin/env python3
"""Run a notebook top to bottom with this Python (the project venv) and, with ``--save``, write
it back with its outputs, as it is shipped::

    .venv/bin/python notebooks/execute.py notebooks/mra_troubleshooting.ipynb --save

The kernel is always the interpreter running this script: a kernelspec pointing at
``sys.executable`` is written to a temporary folder, so a ``python3`` kernel registered elsewhere
(``~/.local/share/jupyter``, another venv) cannot take its place. The notebook runs in its own
folder, as Jupyter runs it. ``tests/test_notebook.py`` uses :func:`execute`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

KERNEL = "pcaptls-venv"


def execute(path: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """The notebook at ``path`` after running every cell; raises
    :class:`nbclient.exceptions.CellExecutionError` on the first cell that fails."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="pcaptls-kernel-") as tmp:
        spec = Path(tmp) / KERNEL
        spec.mkdir()
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
            # The inline backend, whatever MPLBACKEND the caller has set.
            "env": {"MPLBACKEND": "module://matplotlib_inline.backend_inline"},
        }))
        ksm = KernelSpecManager(kernel_dirs=[tmp], ensure_native_kernel=False)
        # Unix sockets in the temporary folder, not TCP: no port to race for when tests run
        # notebooks in parallel, and nothing listening on the network.
        km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=ksm, transport="ipc",
                           ip=str(Path(tmp) / "kernel"))
        # No per-cell timestamps: re-saving an unchanged notebook changes no byte but the plot's.
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                                resources={"metadata": {"path": str(path.resolve().parent)}})
        client.execute()
    for cell in nb.cells:  # one output per print run, not one per flush
        cell.metadata.pop("execution", None)  # timestamps of an earlier run
        merged: list = []
        for out in cell.get("outputs", []):
            if (merged and out.output_type == "stream" and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        if "outputs" in cell:
            cell.outputs = merged
    # Saved as if run on the usual python3 kernel, not on the temporary spec.
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--save", action="store_true", help="write the executed notebook back")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per cell")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    nb = execute(args.notebook, args.timeout)
    if args.save:
        nbformat.write(nb, args.notebook)
    size = args.notebook.stat().st_size
    print(f"{args.notebook}: ran in {time.monotonic() - t0:.1f}s"
          + (f", saved ({size // 1024} KB)" if args.save else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
