"""pcaptls against tshark and ssldump on the same generated captures, in the same run.

Usage: ``python benchmarks/run.py [--sizes 100,300,1000] [--handshakes 300[,1000]] [--repeat 3] [--bundle 20x20] [--storm 100000]``

For each size a capture is made once by ``gen_capture.py`` (kept under ``benchmarks/data``),
and handshake-heavy captures (``--handshakes MB,...``: short connections, a third of them
failing in retry series, ``gen_capture.generate_handshakes``). On each, both engines
first run once untimed (one JSON line per generated connection, as many failed, the same bytes
from both), then the tools run alternately, ``--repeat`` rounds:

- ``pcaptls inspect F --format jsonl`` (stdout to /dev/null), as a user runs it (default
  engine; ``--jobs`` defaults to all cores: a capture of 32 MB or more is split by connection
  when it is dense in connections),
  ``pcaptls1``: the same with ``--jobs 1`` (one process), and ``pcaptls-py``: the same as
  ``pcaptls`` with ``PCAPTLS_ENGINE=python`` (the pure-Python reference engine)
- ``tshark -r F -Y <ClientHello|ServerHello|Certificate|alert> -T fields -e ...``: the same
  facts (SNI, version, cipher suite, certificates, alerts), one line per matching frame
- ``ssldump -n -r F``: C, no X.509 decoding
- the pure-Python floor: ``floor``, a bare loop over pcaptls' frame reader, and ``walk``, a
  loop that only steps from one pcap record header to the next
- ``rustfloor``: the same walk in Rust (``rust/core/examples/walk.rs``: 1 MiB reads into one
  reused buffer, record headers only), the least any reader of the file does
- start-up: pcaptls on a capture with no frames (interpreter, imports, an empty report)

Each child's wall time is taken around it; CPU time comes from ``wait4`` (summed over the
processes it started) and peak RSS from GNU time around it (the largest process's, so the
memory target is read off ``pcaptls1``; see :func:`measure` for why not ``wait4``). Printed: median wall and CPU, packets/s, peak RSS, and the ratios
against the targets of issue 13 (pcaptls/ssldump <= 1.0, tshark/pcaptls >= 20, peak RSS <= 100 MB
on 1 GB; the storm: inspect <= 1.0 and diagnose, timeline <= 3.0 of ssldump). Then linearity
over the sizes, ``--jobs`` on a bundle of captures against a serial run (output compared byte
for byte), peak memory on a retry storm (``--storm N`` short failing connections: every
format of ``inspect``, ``diagnose``, ``timeline`` (CSV) and ssldump, once each, against the
targets), and whether the progress bar
shows on a terminal and stays off a pipe. Last, the same figures as Markdown tables, to paste
into ``benchmarks/README.md``.

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


# Children run as an installed pcaptls does: with its bytecode cached (compiled once in main()),
# and with the default engine unless a tool says otherwise (ENGINE_ENV).
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PCAPTLS_ENGINE")}
ENGINE_ENV = {"pcaptls-py": {"PCAPTLS_ENGINE": "python"}}

RUST = ROOT / "rust"
WALK_RS = RUST / "core" / "examples" / "walk.rs"

# Targets of issue 13 (same file, same run, medians).
TARGET_SSLDUMP = 1.0  # pcaptls wall / ssldump wall, at most
TARGET_TSHARK = 20.0  # tshark wall / pcaptls wall, at least
TARGET_RSS_MB = 100  # peak RSS on 1 GB, at most
TARGET_STORM = {"jsonl": 1.0, "diagnose": 3.0, "timeline": 3.0}  # retry storm, wall / ssldump, at most


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


# Peak RSS: ``ru_maxrss`` of a child forked from this process starts at this process's own
# peak (Linux keeps the high-water mark of the memory image an exec replaces), and run.py holds
# the session pools: every child would then look at least as large as run.py. GNU time forks
# the child from its own small image and reports that child's peak (%M); CPU time still comes
# from wait4 on time (its own is negligible). Without GNU time, the peak is floored at run.py's.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def measure(argv: list[str], stdout: int | None = subprocess.DEVNULL, ok: tuple[int, ...] = (0, 1),
            env: dict[str, str] | None = None) -> Run:
    """Run one child; its wall time, CPU time (user+sys, from ``wait4``) and peak RSS."""
    rss_file = DATA / ".maxrss"
    wrapped = [GNU_TIME, "-o", str(rss_file), "-f", "%M", *argv] if GNU_TIME else argv
    t0 = time.perf_counter()
    p = subprocess.Popen(wrapped, stdout=stdout, stderr=subprocess.DEVNULL, cwd=ROOT, env={**ENV, **(env or {})})
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    rss_kb = ru.ru_maxrss
    if GNU_TIME:
        report = rss_file.read_text().splitlines()
        if any(x.startswith("Command terminated by signal") for x in report):
            p.returncode = -1
        rss_kb = int(report[-1])
    if p.returncode not in ok:
        raise SystemExit(f"{argv[0]} exited {p.returncode}: {' '.join(argv)}")
    return Run(wall, ru.ru_utime + ru.ru_stime, rss_kb, p.returncode)


def empty_capture() -> Path:
    """A pcap with a header and no frames: pcaptls on it is interpreter start-up and imports."""
    path = DATA / "empty.pcap"
    if not path.exists():
        path.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    return path


_RUSTFLOOR: list[Path | None] = []


def rust_floor() -> Path | None:
    """The ``walk`` example (``rust/core/examples/walk.rs``), built once per run: with cargo
    (release profile; ``CARGO_TARGET_DIR`` if set), or, when the crate does not build (the
    example needs only ``std``), with ``rustc -C opt-level=3`` alone. None without a toolchain."""
    if _RUSTFLOOR:
        return _RUSTFLOOR[0]
    built: Path | None = None
    target = Path(os.environ.get("CARGO_TARGET_DIR") or RUST / "target")
    if shutil.which("cargo"):
        r = subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "walk",
                            "--manifest-path", str(RUST / "Cargo.toml")],
                           env={**os.environ, "CARGO_TARGET_DIR": str(target)}, capture_output=True, text=True, check=False)
        if r.returncode == 0 and (target / "release" / "examples" / "walk").exists():
            built = target / "release" / "examples" / "walk"
            print(f"rustfloor: cargo build --release --example walk -> {built}", file=sys.stderr)
        else:
            tail = (r.stderr.strip().splitlines() or ["?"])[-1]
            print(f"rustfloor: cargo build failed ({tail}); building walk.rs with rustc alone", file=sys.stderr)
    if built is None and shutil.which("rustc"):
        out = DATA / "rustfloor"
        r = subprocess.run(["rustc", "--edition", "2021", "-C", "opt-level=3", "-C", "codegen-units=1",
                            str(WALK_RS), "-o", str(out)], capture_output=True, text=True, check=False)
        if r.returncode == 0:
            built = out
            print(f"rustfloor: rustc -C opt-level=3 walk.rs -> {built}", file=sys.stderr)
        else:
            print(f"rustfloor: rustc failed, no Rust floor:\n{r.stderr}", file=sys.stderr)
    _RUSTFLOOR.append(built)
    return built


def commands(path: Path) -> dict[str, list[str]]:
    tshark = ["tshark", "-n", "-r", str(path), "-Y", TSHARK_FILTER, "-T", "fields"]
    for f in TSHARK_FIELDS:
        tshark += ["-e", f]
    cmds = {
        "pcaptls": [*PCAPTLS, "inspect", str(path), "--format", "jsonl"],  # default engine; --jobs: all cores
        "pcaptls1": [*PCAPTLS, "inspect", str(path), "--format", "jsonl", "--jobs", "1"],  # one process
        "pcaptls-py": [*PCAPTLS, "inspect", str(path), "--format", "jsonl"],  # PCAPTLS_ENGINE=python (ENGINE_ENV)
        "tshark": tshark,
        "ssldump": ["ssldump", "-n", "-r", str(path)],
        "floor": [PY, "-c", FLOOR, str(path)],
        "walk": [PY, "-c", WALK, str(path)],
        "startup": [*PCAPTLS, "inspect", str(empty_capture()), "--format", "jsonl"],
    }
    floor = rust_floor()
    if floor is not None:
        cmds["rustfloor"] = [str(floor), str(path)]
    return cmds


def ensure_capture(size: int, seed: int = 1) -> Path:
    path = DATA / f"bench-{size}MB-seed{seed}.pcap"
    if not path.exists():
        from benchmarks import gen_capture

        print(f"generating {path} ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp")
        made = gen_capture.generate(size, tmp, seed, _pool())
        tmp.rename(path)
        _write_summary(path, made)
        print(f"  {made.bytes / 1e6:.0f} MB, {made.frames} frames, {made.tls} TLS connections ({made.tls_failed} failing), "
              f"{made.http} HTTP, {made.dns} DNS", file=sys.stderr)
    return path


def ensure_handshakes(size: int, seed: int = 1) -> Path:
    """The handshake-heavy capture: ``gen_capture.generate_handshakes`` (short connections,
    every one a full handshake, a third failing in retry series)."""
    path = DATA / f"handshakes-{size}MB-seed{seed}.pcap"
    if not path.exists():
        from benchmarks import gen_capture

        print(f"generating {path} ...", file=sys.stderr)
        tmp = path.with_suffix(".tmp")
        t0 = time.perf_counter()
        made = gen_capture.generate_handshakes(size, tmp, seed, _pool("handshakes"))
        tmp.rename(path)
        _write_summary(path, made)
        print(f"  {made.bytes / 1e6:.0f} MB, {made.frames} frames, {made.tls} TLS connections ({made.tls_failed} failing: "
              f"{made.alerts}), {made.dns} DNS, in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


def _write_summary(path: Path, made: object) -> None:
    """What the generator says it wrote, next to the capture (``.json``), for the report."""
    path.with_suffix(".json").write_text(json.dumps(asdict(made), indent=1))  # type: ignore[call-overload,unused-ignore]


def _summary(path: Path) -> dict[str, object]:
    try:
        made: dict[str, object] = json.loads(path.with_suffix(".json").read_text())
        return made
    except (OSError, ValueError):
        return {}


_POOLS: dict[str, object] = {}


def _pool(kind: str = "bulk"):  # type: ignore[no-untyped-def]
    if kind not in _POOLS:
        from benchmarks import gen_capture

        _POOLS[kind] = gen_capture.handshake_pool() if kind == "handshakes" else gen_capture.session_pool()
    return _POOLS[kind]


def count_frames(path: Path) -> int:
    from pcaptls.capture.files import iter_frames
    from pcaptls.capture.frames import ReadStats

    st = ReadStats(path=str(path))
    for _ in iter_frames(path, st):
        pass
    return st.frames


def check_rustfloor(path: Path, frames: int) -> None:
    """The Rust walk must count the frames pcaptls' reader counts (else it is no floor)."""
    floor = rust_floor()
    if floor is None:
        return
    out = subprocess.run([str(floor), str(path)], capture_output=True, text=True, check=False).stdout
    if not out.startswith(f"{frames} frames"):
        print(f"WARNING: rustfloor on {path.name} says {out.strip()!r}, pcaptls' reader {frames} frames", file=sys.stderr)


def check_outputs(path: Path) -> dict[str, object]:
    """Run both engines once (untimed; this also warms the page cache): each must exit 0 or 1
    and give one JSON line per TLS connection the generator wrote, with as many failed; and
    the two outputs must be the same bytes. A tool that crashes is left out of the timing."""
    made = _summary(path)
    outs: dict[str, bytes] = {}
    check: dict[str, object] = {}
    for name in ("pcaptls", "pcaptls-py"):
        argv = commands(path)[name]
        r = subprocess.run(argv, capture_output=True, cwd=ROOT, env={**ENV, **ENGINE_ENV.get(name, {})}, check=False)
        if r.returncode not in (0, 1):
            last = (r.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            print(f"WARNING: {name} exited {r.returncode} on {path.name} ({last}): not timed", file=sys.stderr)
            check[name] = {"exit": r.returncode, "error": last}
            continue
        outs[name] = r.stdout
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        failed = sum(x.get("status") == "failed" for x in lines)
        agree = None
        if made.get("tls"):
            agree = len(lines) == made["tls"] and failed == made["tls_failed"]
        check[name] = {"exit": r.returncode, "connections": len(lines), "failed": failed, "as_generated": agree}
        print(f"  {name}: {len(lines)} connections, {failed} failed"
              + ("" if agree is None else f"; as generated ({made['tls']}, {made['tls_failed']}): {agree}"), file=sys.stderr)
    if len(outs) == 2:
        check["identical"] = outs["pcaptls"] == outs["pcaptls-py"]
        print(f"  pcaptls and pcaptls-py (PCAPTLS_ENGINE=python) give the same bytes: {check['identical']}", file=sys.stderr)
    return check


def bench_file(path: Path, repeat: int, names: tuple[str, ...] | None = None) -> tuple[dict[str, Tool], dict[str, object]]:
    checked = check_outputs(path)
    broken = {k for k, v in checked.items() if isinstance(v, dict) and v.get("exit") not in (0, 1)}
    if "pcaptls" in broken:
        broken |= {"pcaptls1", "startup"}
    cmds = {k: v for k, v in commands(path).items() if (names is None or k in names) and k not in broken}
    cmds = {k: v for k, v in cmds.items() if v[0] == PY or shutil.which(v[0])}  # tshark/ssldump may be missing
    tools = {name: Tool(name) for name in cmds}
    for r in range(repeat):
        for name, argv in cmds.items():
            tools[name].runs.append(measure(argv, env=ENGINE_ENV.get(name)))
            print(f"  round {r + 1}: {name:10} {tools[name].runs[-1].wall:7.2f} s", file=sys.stderr)
    return {k: v for k, v in tools.items() if v.runs}, checked


def _ratio(a: Tool, b: Tool) -> tuple[float, float]:
    return a.wall / b.wall, a.cpu / b.cpu


def report_file(path: Path, frames: int, tools: dict[str, Tool], checked: dict[str, object] | None = None) -> dict[str, object]:
    size_mb = path.stat().st_size / 1e6
    made = _summary(path)
    held = ""
    if made.get("tls"):
        held = f", {made['tls']} TLS connections ({made['tls_failed']} failing)"
    print(f"\n{path.name}: {size_mb:.0f} MB, {frames} frames{held}")
    print(f"  {'tool':10} {'wall s':>8} {'cpu s':>8} {'kpkt/s':>8} {'MB/s':>7} {'peak RSS MB':>12}")
    for t in tools.values():
        if t.name == "startup":
            continue
        print(f"  {t.name:10} {t.wall:8.2f} {t.cpu:8.2f} {frames / t.wall / 1e3:8.0f} {size_mb / t.wall:7.0f} {t.rss_mb:12.0f}")
    if checked:
        said = []
        for name in ("pcaptls", "pcaptls-py"):
            c = checked.get(name)
            if isinstance(c, dict):
                said.append(f"{name} {c['connections']} ({c['failed']} failed)" if "connections" in c
                            else f"{name} exited {c['exit']}")
        same = checked.get("identical")
        wrong = any(isinstance(c, dict) and c.get("as_generated") is False for c in checked.values()) or same is False
        print(f"  {'WARNING: ' if wrong else ''}output: {', '.join(said)}"
              + (f"; generated {made['tls']} ({made['tls_failed']} failed)" if made.get("tls") else "")
              + ("" if same is None else f"; engines byte-identical: {same}"))
    p = tools.get("pcaptls")
    ratios: dict[str, tuple[float, float]] = {}
    targets: dict[str, dict[str, object]] = {}

    def line(label: str, r: tuple[float, float], goal: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("  met" if met else "  MISSED")
        print(f"  {label:22} wall {r[0]:7.2f}  cpu {r[1]:7.2f}  {('target ' + goal) if goal else ''}{verdict}")

    if p is None:
        print("  pcaptls (default engine) not timed: it failed on this file (see the warning above)")
    if p is not None and "startup" in tools:
        s = tools["startup"]
        print(f"  pcaptls without start-up: wall {p.wall - s.wall:.2f} s, cpu {p.cpu - s.cpu:.2f} s "
              f"({(p.wall - s.wall) / frames * 1e6:.2f} us/frame)")
    if p is not None and "ssldump" in tools:
        r = ratios["pcaptls/ssldump"] = _ratio(p, tools["ssldump"])
        targets["pcaptls/ssldump"] = {"value": r[0], "target": f"<= {TARGET_SSLDUMP}", "met": r[0] <= TARGET_SSLDUMP}
        line("pcaptls/ssldump", r, f"<= {TARGET_SSLDUMP}", r[0] <= TARGET_SSLDUMP)
    if p is not None and "tshark" in tools:
        r = ratios["tshark/pcaptls"] = _ratio(tools["tshark"], p)
        targets["tshark/pcaptls"] = {"value": r[0], "target": f">= {TARGET_TSHARK:g}", "met": r[0] >= TARGET_TSHARK}
        line("tshark/pcaptls", r, f">= {TARGET_TSHARK:g}", r[0] >= TARGET_TSHARK)
    for other in ("rustfloor", "walk", "floor"):
        if p is not None and other in tools:
            line(f"pcaptls/{other}", ratios.setdefault(f"pcaptls/{other}", _ratio(p, tools[other])))
    if "pcaptls-py" in tools:
        if p is not None:
            line("pcaptls-py/pcaptls", ratios.setdefault("pcaptls-py/pcaptls", _ratio(tools["pcaptls-py"], p)))
        if "ssldump" in tools:
            line("pcaptls-py/ssldump", ratios.setdefault("pcaptls-py/ssldump", _ratio(tools["pcaptls-py"], tools["ssldump"])))
    if "pcaptls1" in tools:
        one = tools["pcaptls1"]
        for a, b in ((one, tools.get("ssldump")), (tools.get("tshark"), one)):
            if a is not None and b is not None:
                label = f"{a.name}/{b.name}"
                line(label, ratios.setdefault(label, _ratio(a, b)))
    rss = max((tools[k].rss_mb for k in ("pcaptls", "pcaptls1") if k in tools), default=0.0)
    if size_mb >= 900:  # the memory target is stated for 1 GB
        targets["peak RSS MB"] = {"value": rss, "target": f"<= {TARGET_RSS_MB}", "met": rss <= TARGET_RSS_MB}
    print(f"  peak RSS (largest process of pcaptls, pcaptls1) {rss:.0f} MB"
          + (f"  target <= {TARGET_RSS_MB} MB on 1 GB  {'met' if rss <= TARGET_RSS_MB else 'MISSED'}" if size_mb >= 900 else ""))
    return {
        "file": path.name, "mb": size_mb, "frames": frames, "made": made,
        "tools": {k: {"wall": v.wall, "cpu": v.cpu, "rss_mb": v.rss_mb, "runs": [asdict(r) for r in v.runs]} for k, v in tools.items()},
        "ratios": ratios, "targets": targets, "output_check": checked or {},
    }


def linearity(rows: list[dict[str, object]]) -> None:
    """Time per MB once start-up is taken off, and the slope between sizes, wall and CPU."""
    rows = [r for r in rows if "pcaptls" in r["tools"]]  # type: ignore[operator]
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
        from tests.helpers import pcapgen

        bad = pcapgen.make_chain(cn="tftp.example.com", ecdsa=True, self_signed=True)
        good = pcapgen.make_chain(cn="tftp.example.com", ecdsa=True)
        wire, error = pcapgen.handshake_bytes(bad, sni="tftp.example.com", trust_pem=good.ca_pem)
        assert error is not None
        tmp = path.with_suffix(".tmp")
        pcapgen.retry_storm(tmp, wire, count)
        tmp.rename(path)
    return path


def bench_storm(count: int, repeat: int) -> dict[str, dict[str, object]]:
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
    # Untimed: the default engine must report every connection, each failed (lines counted as they come).
    lines = failed = 0
    with subprocess.Popen(cmds["jsonl"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV) as child:
        assert child.stdout is not None
        tail = b""
        for chunk in iter(lambda: child.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
            lines += chunk.count(b"\n")
            failed += (tail + chunk).count(b'"status":"failed"') - tail.count(b'"status":"failed"')
            tail = chunk[-20:]
    storm_ok = lines == failed == count
    for _ in range(repeat):
        for name in tools:
            tools[name].runs.append(measure(cmds[name]))
    print(f"\nretry storm: {path.name}, {path.stat().st_size / 1e6:.0f} MB, {count} failing TLS connections")
    print(f"  {'' if storm_ok else 'WARNING: '}output: pcaptls inspect --format jsonl gives {lines} connections, "
          f"{failed} failed (expected {count}, all failed)")
    print(f"  {'run':9} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'/ssldump':>9}  target")
    dump = tools.get("ssldump")
    out: dict[str, dict[str, object]] = {}
    for t in tools.values():
        row: dict[str, object] = {"wall": t.wall, "cpu": t.cpu, "rss_mb": t.rss_mb}
        rel = goal = ""
        if dump is not None and t is not dump:
            row["vs_ssldump"] = t.wall / dump.wall
            rel = f"{t.wall / dump.wall:9.2f}"
            if t.name in TARGET_STORM:
                row["target"] = TARGET_STORM[t.name]
                row["met"] = t.wall / dump.wall <= TARGET_STORM[t.name]
                goal = f"  <= {TARGET_STORM[t.name]:.1f}  {'met' if row['met'] else 'MISSED'}"
        print(f"  {t.name:9} {t.wall:8.2f} {t.cpu:8.2f} {t.rss_mb:12.0f} {rel:>9}{goal}")
        out[t.name] = row
    out["output_check"] = {"connections": lines, "failed": failed, "as_generated": storm_ok}
    return out


def markdown(rows: list[dict[str, object]], storm: dict[str, dict[str, object]] | None) -> None:
    """The figures again as Markdown tables (medians, wall seconds), for benchmarks/README.md."""
    if not rows and not storm:
        return
    print("\nMarkdown (wall s, medians; to paste into benchmarks/README.md):\n")
    names = ("pcaptls", "pcaptls1", "pcaptls-py", "ssldump", "tshark", "rustfloor", "walk")
    if rows:
        present = [n for n in names if any(n in r["tools"] for r in rows)]  # type: ignore[operator]
        print("| capture | MB | frames | TLS conns (failing) | " + " | ".join(f"`{n}`" for n in present)
              + f" | pcaptls / ssldump (≤ {TARGET_SSLDUMP:g}) | tshark / pcaptls (≥ {TARGET_TSHARK:g}) | pcaptls / rustfloor"
              + f" | peak RSS MB (≤ {TARGET_RSS_MB} on 1 GB) |")
        print("|---|---:|---:|---:|" + "---:|" * len(present) + "---:|---:|---:|---:|")
        for r in rows:
            tools: dict[str, dict[str, float]] = r["tools"]  # type: ignore[assignment]
            made: dict[str, object] = r.get("made") or {}  # type: ignore[assignment]
            conns = f"{made['tls']:,} ({made['tls_failed']:,})" if made.get("tls") else ""
            cells = [f"{tools[n]['wall']:.2f}" if n in tools else "" for n in present]
            p = tools.get("pcaptls", {}).get("wall")

            def rel(a: float | None, b: float | None) -> str:
                return f"{a / b:.2f}" if a and b else ""

            ssl = rel(p, tools.get("ssldump", {}).get("wall"))
            tsh = rel(tools.get("tshark", {}).get("wall"), p)
            flo = rel(p, tools.get("rustfloor", {}).get("wall"))
            rss = max((tools[k]["rss_mb"] for k in ("pcaptls", "pcaptls1") if k in tools), default=0.0)
            print(f"| `{r['file']}` | {r['mb']:,.0f} | {r['frames']:,} | {conns} | " + " | ".join(cells)
                  + f" | {ssl} | {tsh} | {flo} | {rss:.0f} |")
    if storm:
        print("\n| retry storm run | wall s | CPU s | peak RSS MB | / ssldump | target |")
        print("|---|---:|---:|---:|---:|---|")
        for name, t in storm.items():
            if "wall" not in t:
                continue
            vs = t.get("vs_ssldump")
            goal = f"≤ {t['target']:g} ({'met' if t['met'] else 'missed'})" if "target" in t else ""
            print(f"| `{name}` | {t['wall']:.2f} | {t['cpu']:.2f} | {t['rss_mb']:.0f} | "
                  f"{f'{vs:.2f}' if vs is not None else ''} | {goal} |")


def check_progress(path: Path) -> dict[str, bool]:
    """The progress bar: on a terminal (``script`` gives the child a pty) and not on a pipe.
    It appears after a second, so ``path`` should take longer than that (the storm does)."""
    cmd = " ".join([*PCAPTLS, "inspect", str(path), "--format", "jsonl", ">/dev/null"])
    tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, cwd=ROOT)
    shown = b"MB/s" in tty.stdout
    piped = subprocess.run([*PCAPTLS, "inspect", str(path), "--format", "jsonl"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=ROOT)
    quiet = b"MB/s" not in piped.stderr  # the trust-store note is there, never the bar
    print(f"\nprogress bar on {path.name}: shown on a terminal: {shown}; absent when stderr is a pipe: {quiet}")
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
    ap.add_argument("--sizes", default="100,300,1000", help="capture sizes in MB, comma-separated; 0 to skip")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bundle", default="20x20", help="COUNTxMB captures for the --jobs comparison; 0 to skip")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-tools", action="store_true", help="pcaptls and the floor only (no tshark/ssldump)")
    ap.add_argument("--storm", type=int, default=100_000,
                    help="connections in the retry-storm capture for the memory check; 0 to skip")
    ap.add_argument("--handshakes", default="300",
                    help="sizes in MB of the handshake-heavy captures, comma-separated (8,000+ full handshakes "
                         "per 300 MB, a third failing); 0 to skip")
    a = ap.parse_args(argv)
    DATA.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "pcaptls")], check=True)
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not GNU_TIME:
        print("note: no /usr/bin/time (GNU time): peak RSS figures are floored at run.py's own peak")
    only = ("pcaptls", "pcaptls1", "pcaptls-py", "floor", "walk", "rustfloor", "startup") if a.no_tools else None
    rows = []
    for size in (int(s) for s in a.sizes.split(",") if s and int(s)):
        path = ensure_capture(size)
        frames = count_frames(path)
        check_rustfloor(path, frames)
        rows.append(report_file(path, frames, *bench_file(path, a.repeat, only)))
    linearity(rows)
    result: dict[str, object] = {"machine": machine(), "files": rows}
    timed = list(rows)
    hs_rows = []
    for size in (int(s) for s in a.handshakes.split(",") if s and int(s)):
        path = ensure_handshakes(size)
        frames = count_frames(path)
        check_rustfloor(path, frames)
        hs_rows.append(report_file(path, frames, *bench_file(path, a.repeat, only)))
    if hs_rows:
        result["handshakes"] = hs_rows
        timed += hs_rows
    if a.bundle and a.bundle != "0":
        n, mb = (int(x) for x in a.bundle.lower().split("x"))
        result["jobs"] = bench_jobs(n, mb, a.jobs, a.repeat)
    storm = bench_storm(a.storm, 1) if a.storm else None
    if storm is not None:
        result["storm"] = storm
    if a.storm:
        result["progress"] = check_progress(ensure_storm(a.storm))
    elif timed:
        biggest = max(timed, key=lambda r: float(r["mb"]))  # type: ignore[arg-type]
        result["progress"] = check_progress(DATA / str(biggest["file"]))
    print(f"\nload average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    markdown(timed, storm)
    out = RESULTS / time.strftime("run-%Y%m%dT%H%M%SZ.json", time.gmtime())
    out.write_text(json.dumps(result, indent=1))
    print(f"\nresults written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
