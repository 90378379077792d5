"""Many captures on a two-worker Dask cluster against one machine's ``--jobs 2`` (issue 19).

Usage: ``python benchmarks/cluster.py [--captures 40] [--size-mb 20] [--runs 3] [--dir DIR]``

Writes ``--captures`` handshake-heavy captures of ``--size-mb`` each (as Expressway's rotating
diagnostic captures: 20 x 20 MB per interface), starts a ``distributed.LocalCluster`` of two
single-thread worker processes on this machine, then times, in alternation, ``pcaptls inspect
--format jsonl`` over all of them with ``--jobs 2`` and with ``--scheduler`` (medians of
``--runs``), checks that both print the same bytes, and prints the overhead. On one machine the
cluster can only cost (the files cross to the workers, results come back, the client connects);
it pays off when its workers are on other machines, or when the captures already sit where
they run (``pcaptls.dask.connections`` over a shared file system or ``s3://``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "tests")]


def _timed(argv: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, cwd=ROOT)
    took = time.perf_counter() - t0
    assert r.returncode in (0, 1), r.stderr.decode()
    return took, hashlib.sha256(r.stdout).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=40)
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the captures go (default: a temporary folder)")
    args = ap.parse_args()

    from distributed import LocalCluster

    import gen_capture

    where = Path(args.dir or tempfile.mkdtemp(prefix="pcaptls-cluster-bench-"))
    where.mkdir(parents=True, exist_ok=True)
    pool = gen_capture.handshake_pool()
    paths = []
    for i in range(args.captures):
        p = where / f"eth0_diagnostic_logging_tcpdump{i:02d}.pcap"
        if not p.exists():
            gen_capture.generate_handshakes(args.size_mb, p, seed=i + 1, pool=pool)
        paths.append(str(p))
    base = [sys.executable, "-m", "pcaptls.cli", "inspect", *paths, "--format", "jsonl"]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=env) as lc:
        local, remote = [], []
        for _ in range(args.runs):
            t, a = _timed([*base, "--jobs", "2"])
            local.append(t)
            t, b = _timed([*base, "--scheduler", lc.scheduler_address])
            remote.append(t)
            assert a == b, "the cluster's output differs from the local one"
    lm, rm = statistics.median(local), statistics.median(remote)
    total = sum(os.path.getsize(p) for p in paths) / 1e6
    print(f"{args.captures} captures, {total:.0f} MB: --jobs 2 {lm:.2f} s, 2-worker LocalCluster {rm:.2f} s "
          f"(medians of {args.runs}); overhead {rm - lm:+.2f} s ({rm / lm:.2f}x); outputs identical")


if __name__ == "__main__":
    main()
