"""pcaptls against tshark and ssldump on the same generated captures, in the same run.

Usage: ``python benchmarks/run.py [--sizes 100,300,1000] [--repeat 3] [--bundle 20x20] [--storm 100000]``

For each size a capture is made once by ``gen_capture.py`` (kept under ``benchmarks/data``).
On it the tools run alternately, ``--repeat`` rounds:

- ``pcaptls inspect F --format jsonl`` (stdout to /dev/null), as a user runs it (``--jobs``
  defaults to all cores: a capture of 32 MB or more is split by connection), and
  ``pcaptls1``: the same with ``--jobs 1`` (one process)
- ``tshark -r F -Y <ClientHello|ServerHello|Certificate|alert> -T fields -e ...``: the same
  facts (SNI, version, cipher suite, certificates, alerts), one line per matching frame
- ``ssldump -n -r F``: C, no X.509 decoding
- the pure-Python floor: ``floor``, a bare loop over pcaptls' frame reader, and ``walk``, a
  loop that only steps from one pcap record header to the next
- start-up: pcaptls on a capture with no frames (interpreter, imports, an empty report)

Each child's wall time is taken around it; CPU time and peak RSS come from ``wait4`` for that
child (CPU: summed over the processes it started; peak RSS: the largest one's, so the
memory target is read off ``pcaptls1``). Printed: median wall and CPU, packets/s, peak RSS, and the ratios. Then linearity
over the sizes, ``--jobs`` on a bundle of captures against a serial run (output compared byte
for byte), peak memory on a retry storm (``--storm N`` short failing connections: every
format of ``inspect``, ``diagnose``, ``timeline`` (CSV) and ssldump, once each), and whether the progress bar
shows on a terminal and stays off a pipe.

Results are also written as JSON under ``benchmarks/results/`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = HERE / "results"
PY = sys.executable
PCAPTLS = [PY, "-m", "pcaptls.cli"]

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

TSHARK_FILTER = "tls.handshake.type==1 || tls.handshake.type==2 || tls.handshake.type==11 || tls.alert_message"
TSHARK_FIELDS = (
    "frame.number", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport", "tls.handshake.type",
    "tls.handshake.extensions_server_name", "tls.handshake.version", "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite", "tls.handshake.certificate", "tls.alert_message.level", "tls.alert_message.desc",
)

# The pure-Python floor, twice: "walk" unpacks each pcap record header and steps to the next
# (what any Python reader pays at least); "floor" iterates pcaptls' frame reader (a tuple and a
# copy of each frame), nothing else.
WALK = (
    "import struct, sys\n"
    "rec = struct.Struct('<IIII').unpack_from\n"
    "f = open(sys.argv[1], 'rb'); f.read(24); buf = b''; pos = n = 0\n"
    "while True:\n"
    "    if len(buf) - pos < 16:\n"
    "        more = f.read(1 << 16)\n"
    "        if not more: break\n"
    "        buf = buf[pos:] + more; pos = 0; continue\n"
    "    incl = rec(buf, pos)[2]\n"
    "    if pos + 16 + incl > len(buf):\n"
    "        more = f.read(1 << 16)\n"
    "        if not more: break\n"
    "        buf = buf[pos:] + more; pos = 0; continue\n"
    "    pos += 16 + incl; n += 1\n"
)
FLOOR = (
    "import sys\n"
    "from pcaptls.capture.files import iter_frames\n"
    "n = 0\n"
    "for _ in iter_frames(sys.argv[1]):\n"
    "    n += 1\n"
)


# Children run as an installed pcaptls does: with its bytecode cached (compiled once in main()).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Run:
    wall: float
    cpu: float
    rss_kb: int
    status: int


@dataclass
class Tool:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def rss_mb(self) -> float:
        return max(r.rss_kb for r in self.runs) / 1024


def measure(argv: list[str], stdout: int | None = subprocess.DEVNULL, ok: tuple[int, ...] = (0, 1)) -> Run:
    """Run one child; its wall time, CPU time (user+sys) and peak RSS from ``wait4``."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in ok:
        raise SystemExit(f"{argv[0]} exited {p.returncode}: {' '.join(argv)}")
    return Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode)


def empty_capture() -> Path:
    """A pcap with a header and no frames: pcaptls on it is interpreter start-up and imports."""
    path = DATA / "empty.pcap"
    if not path.exists():
        path.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    return path


def commands(path: Path) -> dict[str, list[str]]:
    tshark = ["tshark", "-n", "-r", str(path), "-Y", TSHARK_FILTER, "-T", "fields"]
    for f in TSHARK_FIELDS:
        tshark += ["-e", f]
    return {
        "pcaptls": [*PCAPTLS, "inspect", str(path), "--format", "jsonl"],  # --jobs: all cores
        "pcaptls1": [*PCAPTLS, "inspect", str(path), "--format", "jsonl", "--jobs", "1"],  # one process
        "tshark": tshark,
        "ssldump": ["ssldump", "-n", "-r", str(path)],
        "floor": [PY, "-c", FLOOR, str(path)],
        "walk": [PY, "-c", WALK, str(path)],
        "startup": [*PCAPTLS, "inspect", str(empty_capture()), "--format", "jsonl"],
    }


def ensure_capture(size: int, seed: int = 1) -> Path:
    path = DATA / f"bench-{size}MB-seed{seed}.pcap"
    if not path.exists():
        import gen_capture

        print(f"generating {path} ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp")
        made = gen_capture.generate(size, tmp, seed, _pool())
        tmp.rename(path)
        print(f"  {made.bytes / 1e6:.0f} MB, {made.frames} frames, {made.tls} TLS connections ({made.tls_failed} failing), "
              f"{made.http} HTTP, {made.dns} DNS", file=sys.stderr)
    return path


_POOL = None


def _pool():  # type: ignore[no-untyped-def]
    global _POOL
    if _POOL is None:
        import gen_capture

        _POOL = gen_capture.session_pool()
    return _POOL


def count_frames(path: Path) -> int:
    from pcaptls.capture.files import ReadStats, iter_frames

    st = ReadStats(path=str(path))
    for _ in iter_frames(path, st):
        pass
    return st.frames


def bench_file(path: Path, repeat: int, names: tuple[str, ...] | None = None) -> dict[str, Tool]:
    cmds = {k: v for k, v in commands(path).items() if names is None or k in names}
    cmds = {k: v for k, v in cmds.items() if v[0] == PY or shutil.which(v[0])}  # tshark/ssldump may be missing
    tools = {name: Tool(name) for name in cmds}
    for r in range(repeat):
        for name, argv in cmds.items():
            tools[name].runs.append(measure(argv))
            print(f"  round {r + 1}: {name:8} {tools[name].runs[-1].wall:7.2f} s", file=sys.stderr)
    return {k: v for k, v in tools.items() if v.runs}


def report_file(path: Path, frames: int, tools: dict[str, Tool]) -> dict[str, object]:
    size_mb = path.stat().st_size / 1e6
    print(f"\n{path.name}: {size_mb:.0f} MB, {frames} frames")
    print(f"  {'tool':8} {'wall s':>8} {'cpu s':>8} {'kpkt/s':>8} {'MB/s':>7} {'peak RSS MB':>12}")
    for t in tools.values():
        if t.name == "startup":
            continue
        print(f"  {t.name:8} {t.wall:8.2f} {t.cpu:8.2f} {frames / t.wall / 1e3:8.0f} {size_mb / t.wall:7.0f} {t.rss_mb:12.0f}")
    p = tools["pcaptls"]
    ratios = {}
    if "startup" in tools:
        s = tools["startup"]
        print(f"  pcaptls without start-up: wall {p.wall - s.wall:.2f} s, cpu {p.cpu - s.cpu:.2f} s "
              f"({(p.wall - s.wall) / frames * 1e6:.2f} us/frame)")
    for other, goal in (("tshark", "<= 0.167"), ("ssldump", "<= 2.0"), ("floor", ""), ("walk", "")):
        if other in tools:
            o = tools[other]
            ratios[other] = (p.wall / o.wall, p.cpu / o.cpu)
            print(f"  pcaptls/{other:8} wall {p.wall / o.wall:6.2f}  cpu {p.cpu / o.cpu:6.2f}  {('target ' + goal) if goal else ''}")
    if "pcaptls1" in tools:
        one = tools["pcaptls1"]
        for other in ("tshark", "ssldump"):
            if other in tools:
                o = tools[other]
                ratios[f"{other} (--jobs 1)"] = (one.wall / o.wall, one.cpu / o.cpu)
                print(f"  --jobs 1: pcaptls/{other:8} wall {one.wall / o.wall:6.2f}  cpu {one.cpu / o.cpu:6.2f}")
    return {
        "file": path.name, "mb": size_mb, "frames": frames,
        "tools": {k: {"wall": v.wall, "cpu": v.cpu, "rss_mb": v.rss_mb, "runs": [asdict(r) for r in v.runs]} for k, v in tools.items()},
        "ratios": ratios,
    }


def linearity(rows: list[dict[str, object]]) -> None:
    """Time per MB once start-up is taken off, and the slope between sizes, wall and CPU."""
    if len(rows) < 2:
        return
    print("\nlinearity (pcaptls median; start-up, pcaptls on an empty capture, taken off):")
    prev = None
    for row in rows:
        tools = row["tools"]  # type: ignore[index]
        p, s = tools["pcaptls"], tools.get("startup", {"wall": 0.0, "cpu": 0.0})
        wall, cpu = p["wall"] - s["wall"], p["cpu"] - s["cpu"]
        slope = ""
        if prev is not None:
            slope = (f"  slope from {prev[0]:.0f} MB: wall {(wall - prev[1]) / (row['mb'] - prev[0]) * 100:5.2f},"
                     f" cpu {(cpu - prev[2]) / (row['mb'] - prev[0]) * 100:5.2f} s/100MB")
        print(f"  {row['mb']:6.0f} MB  wall {wall:6.2f} s ({wall / row['mb'] * 100:5.2f} s/100MB)"
              f"  cpu {cpu:6.2f} s ({cpu / row['mb'] * 100:5.2f} s/100MB)  RSS {p['rss_mb']:4.0f} MB{slope}")
        prev = (row["mb"], wall, cpu)


def bench_jobs(n: int, size: int, jobs: int, repeat: int) -> dict[str, object]:
    paths = [ensure_capture(size, seed=100 + i) for i in range(n)]
    argv = [*PCAPTLS, "inspect", *map(str, paths), "--format", "jsonl"]
    serial, parallel = Tool("serial"), Tool(f"jobs={jobs}")
    outs: dict[str, bytes] = {}
    for _ in range(repeat):
        for tool, extra in ((serial, ["--jobs", "1"]), (parallel, ["--jobs", str(jobs)])):
            out = DATA / f"jobs-{tool.name}.jsonl"
            with open(out, "wb") as f:
                tool.runs.append(measure(argv + extra, stdout=f.fileno()))
            outs[tool.name] = out.read_bytes()
    same = outs[serial.name] == outs[parallel.name]
    lines = outs[serial.name].count(b"\n")
    print(f"\nbundle of {n} captures x {size} MB: serial {serial.wall:.2f} s (cpu {serial.cpu:.2f}), "
          f"--jobs {jobs} {parallel.wall:.2f} s (cpu {parallel.cpu:.2f} over all processes), "
          f"speed-up x{serial.wall / parallel.wall:.2f}; {lines} JSON lines, identical: {same}")
    return {"files": n, "mb_each": size, "jobs": jobs, "serial": serial.wall, "parallel": parallel.wall,
            "serial_cpu": serial.cpu, "parallel_cpu": parallel.cpu, "identical": same}


def ensure_storm(count: int) -> Path:
    """A retry storm: ``count`` short connections replaying one real failing handshake (a
    self-signed ECDSA server certificate the client rejects with unknown_ca), 10 ms apart."""
    path = DATA / f"storm-{count}.pcap"
    if not path.exists():
        sys.path.insert(0, str(ROOT / "tests"))
        import pcapgen

        bad = pcapgen.make_chain(cn="tftp.example.com", ecdsa=True, self_signed=True)
        good = pcapgen.make_chain(cn="tftp.example.com", ecdsa=True)
        wire, error = pcapgen.handshake_bytes(bad, sni="tftp.example.com", trust_pem=good.ca_pem)
        assert error is not None
        tmp = path.with_suffix(".tmp")
        pcapgen.retry_storm(tmp, wire, count)
        tmp.rename(path)
    return path


def bench_storm(count: int, repeat: int) -> dict[str, object]:
    """Memory when the connections are many and short: pcaptls' formats against ssldump."""
    path = ensure_storm(count)
    cmds = {
        "jsonl": [*PCAPTLS, "inspect", str(path), "--format", "jsonl"],
        "jsonl1": [*PCAPTLS, "inspect", str(path), "--format", "jsonl", "--jobs", "1"],
        "table": [*PCAPTLS, "inspect", str(path)],
        "table1": [*PCAPTLS, "inspect", str(path), "--jobs", "1"],
        "diagnose": [*PCAPTLS, "diagnose", str(path)],
        "timeline": [*PCAPTLS, "timeline", str(path), "--format", "csv"],
        "ssldump": ["ssldump", "-n", "-r", str(path)],
    }
    tools = {k: Tool(k) for k, v in cmds.items() if v[0] == PY or shutil.which(v[0])}
    for _ in range(repeat):
        for name in tools:
            tools[name].runs.append(measure(cmds[name]))
    print(f"\nretry storm: {path.name}, {path.stat().st_size / 1e6:.0f} MB, {count} failing TLS connections")
    print(f"  {'run':9} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12}")
    for t in tools.values():
        print(f"  {t.name:9} {t.wall:8.2f} {t.cpu:8.2f} {t.rss_mb:12.0f}")
    return {k: {"wall": t.wall, "cpu": t.cpu, "rss_mb": t.rss_mb} for k, t in tools.items()}


def check_progress(path: Path) -> dict[str, bool]:
    """The progress bar: on a terminal (``script`` gives the child a pty) and not on a pipe."""
    cmd = " ".join([*PCAPTLS, "inspect", str(path), "--format", "jsonl", ">/dev/null"])
    tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, cwd=ROOT)
    shown = b"MB/s" in tty.stdout
    piped = subprocess.run([*PCAPTLS, "inspect", str(path), "--format", "jsonl"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=ROOT)
    quiet = piped.stderr == b""
    print(f"\nprogress bar: shown on a terminal: {shown}; stderr empty when it is a pipe: {quiet}")
    return {"tty": shown, "pipe_quiet": quiet}


def machine() -> str:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    except OSError:
        mem = 0
    tools = []
    for argv in (["tshark", "--version"], ["ssldump", "-v"]):
        try:
            out = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
            tools.append(out[0].strip() if out else argv[0])
        except OSError:
            pass
    return (f"{os.cpu_count()} cores ({cpu}), {mem / 1024 / 1024:.0f} GiB RAM, Python {platform.python_version()}, "
            + ", ".join(tools))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,300,1000", help="capture sizes in MB, comma-separated")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bundle", default="20x20", help="COUNTxMB captures for the --jobs comparison; 0 to skip")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-tools", action="store_true", help="pcaptls and the floor only (no tshark/ssldump)")
    ap.add_argument("--storm", type=int, default=100_000,
                    help="connections in the retry-storm capture for the memory check; 0 to skip")
    a = ap.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "pcaptls")], check=True)
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rows = []
    for size in (int(s) for s in a.sizes.split(",") if s):
        path = ensure_capture(size)
        frames = count_frames(path)
        tools = bench_file(path, a.repeat, ("pcaptls", "pcaptls1", "floor", "walk", "startup") if a.no_tools else None)
        rows.append(report_file(path, frames, tools))
    linearity(rows)
    result: dict[str, object] = {"machine": machine(), "files": rows}
    if a.bundle and a.bundle != "0":
        n, mb = (int(x) for x in a.bundle.lower().split("x"))
        result["jobs"] = bench_jobs(n, mb, a.jobs, a.repeat)
    if a.storm:
        result["storm"] = bench_storm(a.storm, 1)
    if rows:
        biggest = max((r for r in rows), key=lambda r: r["mb"])  # type: ignore[arg-type,return-value]
        result["progress"] = check_progress(DATA / str(biggest["file"]))
    print(f"\nload average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    out = RESULTS / time.strftime("run-%Y%m%dT%H%M%SZ.json", time.gmtime())
    out.write_text(json.dumps(result, indent=1))
    print(f"\nresults written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
