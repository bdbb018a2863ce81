"""callrec-server under load: the most concurrent 20 ms G.711 sessions it holds with nothing lost,
and what a stream costs it, against `ffmpeg -c copy` (run by scripts/bench-server, which builds the
binaries and raises the open-file limit first).

A level (N sessions):
    1. A fresh `callrec-server` on 127.0.0.1 with an empty storage folder on the real disk (the
       work directory under target/, never tmpfs: the disk writes are part of the cost). Its
       resident set is read once it is ready (the idle RSS).
    2. `loadgen --server` in a second process starts N sessions over the record protocol (ramped,
       see --rate), then sends each one 20 ms PCMA RTP for the window (BENCH_SECONDS), then stops
       them. Sessions come from loopback addresses 127.0.1.x, 50 per address (the server holds
       at most 64 control connections per address); each address sends its RTP from one socket.
    3. The server is read at the loadgen's `send_start` (its first deadline) and `send_end` (one
       period after the last tick): utime + stime from /proc/PID/stat (CPU per stream, µs per
       packet), VmRSS at `send_end` minus the idle RSS (memory per session), the UDP counters of
       /proc/net/snmp and /proc/net/softnet_stat, and the drops and queue of every server socket
       in /proc/net/udp. Each server thread's CPU is sampled every second in between (the media
       shards' load), and /proc/net/udp every 5 s (the fullest receive queue).
    4. After the stops and the server's exit: every session's sidecar must say received == sent,
       lost == late == duplicates == malformed == from_strangers == 0, stop reason `loadgen`,
       duration == the audio sent, one file; every file is read by `callrec info --json`
       (duration, dataSize, header up to date: the file is its header and dataSize bytes).
The level passes if every session started and stopped, the loadgen had no send errors, and every
check holds. Levels run in the ladder's order (BENCH_COUNTS) and stop at the first failure.

ffmpeg: M processes `ffmpeg -c copy` of one SDP stream each, fed by `loadgen --raw` with the same
packets for the same window, read at the same two points; each ends on an RTCP BYE and its output
must hold all the audio sent.

Caveat measured as is: on loopback the kernel's receive path (UDP delivery into the socket) runs
in the sender's softirq and is charged to the sender, for the server and ffmpeg alike.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import platform
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import bench_local_proc as proc

# Below the ephemeral range (32768-60999) and the test suite's server ports (20000-39999,
# tests/common/server.rs): the server binds its ports with SO_REUSEADDR, so another program's
# SO_REUSEADDR socket on the same port would take a session's packets without any error.
SERVER_PORTS = (10000, 17999)
FFMPEG_BASE = 18000
# A level whose loadgen delivered less than this share of N × 50 packets/s over the window could
# not keep up (the 2 CPUs are shared by the server and the loadgen): not a clean measurement.
SENDER_KEPT_UP = 0.97
FRAME_BYTES = 160
PERIOD_S = 0.020
READY_TIMEOUT_S = 15.0
PER_IP = 50


class BenchError(Exception):
    """The benchmark could not measure (a process failed, a port never opened...)."""


# --------------------------------------------------------------------------------------------
# Processes


class Lines:
    """JSON lines from a child's stdout, with a deadline."""

    def __init__(self, p: subprocess.Popen, what: str) -> None:
        self.p, self.what, self.buf = p, what, b""

    def next(self, timeout: float) -> dict | None:
        """The next JSON line, or None at end of output."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self.what}: nothing for {timeout:.0f} s")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


# --------------------------------------------------------------------------------------------
# /proc readings (bench_local_proc has CPU time; these are the server's extras)


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (utime + stime) of each live thread, by `name/tid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / proc.CLK_TCK
    return out


def udp_snmp() -> dict[str, int]:
    with open("/proc/net/snmp", encoding="ascii") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])}


def softnet_dropped() -> int:
    """Packets the per-CPU input backlogs dropped (netdev_max_backlog), all CPUs."""
    with open("/proc/net/softnet_stat", encoding="ascii") as f:
        return sum(int(line.split()[1], 16) for line in f)


@dataclass
class SocketTable:
    sockets: int = 0
    drops: int = 0
    max_rx_queue: int = 0
    bound: set[int] = field(default_factory=set)
    # Ports bound by more than one socket (SO_REUSEADDR lets two programs share one).
    shared: set[int] = field(default_factory=set)


def udp_sockets(lo: int, hi: int) -> SocketTable:
    """IPv4 UDP sockets bound to ports lo..=hi: count, drops, fullest receive queue (bytes)."""
    t = SocketTable()
    with open("/proc/net/udp", encoding="ascii") as f:
        next(f)
        for line in f:
            parts = line.split()
            port = int(parts[1].split(":")[1], 16)
            if lo <= port <= hi:
                t.sockets += 1
                if port in t.bound:
                    t.shared.add(port)
                t.bound.add(port)
                t.drops += int(parts[-1])
                t.max_rx_queue = max(t.max_rx_queue, int(parts[4].split(":")[1], 16))
    return t


def meminfo_kib(keys: tuple[str, ...] = ("Dirty", "Writeback")) -> dict[str, int]:
    out = {}
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in keys:
                out[k] = int(v.split()[0])
    return out


def threads_state(pid: int) -> dict[str, tuple[str, str]]:
    """Each live thread's scheduler state (R, S, D...) and, when blocked, its wait channel."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
                text = f.read()
            state = text.rsplit(")", 1)[1].split()[0]
            wchan = ""
            if state == "D":
                with open(f"/proc/{pid}/task/{tid}/wchan", encoding="ascii") as f:
                    wchan = f.read().strip()
        except FileNotFoundError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        out[f"{name}/{tid}"] = (state, wchan)
    return out


def psi_total_us(resource: str) -> dict[str, int]:
    """Pressure stall totals (µs some/full tasks waited on cpu, io) since boot; {} if absent."""
    try:
        with open(f"/proc/pressure/{resource}", encoding="ascii") as f:
            return {line.split()[0]: int(line.split("total=")[1]) for line in f}
    except (FileNotFoundError, IndexError, ValueError):
        return {}


def cpu_steal_ticks() -> int:
    with open("/proc/stat", encoding="ascii") as f:
        return int(f.readline().split()[8])


class Sampler(threading.Thread):
    """While the window runs: every second each thread's CPU over that second; every 0.25 s
    each thread's state (how often a thread is blocked on I/O, D, and where); every 2 s the
    fullest receive queue of the server's sockets and the page cache's dirty and writeback
    memory. Keeps the maxima and counts."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop_event = threading.Event()
        self.peak_thread_pct: dict[str, float] = collections.defaultdict(float)
        self.state_samples = 0
        self.blocked: collections.Counter = collections.Counter()  # (thread, wchan) -> samples
        self.peak_rx_queue = 0
        self.shared_ports: set[int] = set()
        self.rx_queue_trace: list[tuple[float, int]] = []
        self.peak_mem: dict[str, int] = collections.defaultdict(int)
        # The sampler's own longest oversleep of its 0.25 s period: a stall of the whole machine
        # shows here too, not only in the server and the loadgen.
        self.max_oversleep = (0.0, 0.0)  # (seconds late, at window second)
        self.error: str | None = None

    def run(self) -> None:
        try:
            t_begin = time.monotonic()
            last, t_last, k = threads_cpu(self.pid), t_begin, 0
            t_prev = t_begin
            while not self.stop_event.wait(0.25):
                t_now = time.monotonic()
                over = t_now - t_prev - 0.25
                if over > self.max_oversleep[0]:
                    self.max_oversleep = (over, round(t_now - t_begin, 1))
                t_prev = t_now
                k += 1
                self.state_samples += 1
                for name, (state, wchan) in threads_state(self.pid).items():
                    if state == "D":
                        self.blocked[(thread_label(name), wchan)] += 1
                if k % 4 == 0:
                    now, t = threads_cpu(self.pid), time.monotonic()
                    for name, cpu in now.items():
                        pct = (cpu - last.get(name, cpu)) / (t - t_last) * 100
                        self.peak_thread_pct[name] = max(self.peak_thread_pct[name], pct)
                    last, t_last = now, t
                # The receive queues every 0.5 s for the first 6 s (every session's first packet
                # opens its file then), every 2 s after.
                if k % 8 == 0 or (k <= 24 and k % 2 == 0):
                    table = udp_sockets(*SERVER_PORTS)
                    q = table.max_rx_queue
                    self.peak_rx_queue = max(self.peak_rx_queue, q)
                    self.shared_ports |= table.shared
                    self.rx_queue_trace.append((round(time.monotonic() - t_begin, 1), q))
                    for key, v in meminfo_kib().items():
                        self.peak_mem[key] = max(self.peak_mem[key], v)
        except Exception as e:  # noqa: BLE001 - a reading error must not end the level
            self.error = repr(e)


def thread_label(name: str) -> str:
    return name.split("/")[0]


# --------------------------------------------------------------------------------------------
# One level


@dataclass
class Level:
    n: int
    passed: bool = False  # every check held
    shared_ports: set = field(default_factory=set)
    problems: collections.Counter = field(default_factory=collections.Counter)
    started: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    window_s: float = 0.0
    packets: int = 0
    cpu_s: float = 0.0
    idle_rss_kib: int = 0
    end_rss_kib: int = 0
    threads_pct: dict = field(default_factory=dict)
    peak_threads_pct: dict = field(default_factory=dict)
    loadgen_cpu_pct: float = 0.0
    snmp: dict = field(default_factory=dict)
    softnet_drops: int = 0
    socket_drops: int = 0
    peak_rx_queue: int = 0
    rx_queue_trace: list = field(default_factory=list)
    psi: dict = field(default_factory=dict)
    steal_s: float = 0.0
    oversleep: tuple = (0.0, 0.0)
    blocked: dict = field(default_factory=dict)
    peak_mem: dict = field(default_factory=dict)
    server_warnings: list = field(default_factory=list)
    files_checked: int = 0
    storage_bytes: int = 0
    server_argv: list = field(default_factory=list)
    loadgen_argv: list = field(default_factory=list)

    @property
    def sender_share(self) -> float:
        """The share of the nominal N × 50 packets/s the loadgen delivered over the window."""
        return self.pps / (self.n * 50)

    @property
    def clean(self) -> bool:
        """Held, with the loadgen keeping up: a level that counts."""
        return self.passed and self.sender_share >= SENDER_KEPT_UP

    def verdict(self) -> str:
        if not self.passed:
            return "FAILED: " + "; ".join(f"{k} ×{v}" for k, v in self.problems.most_common(6))
        if not self.clean:
            return (f"held, but sender-limited ({self.sender_share:.0%} of the nominal "
                    "packet rate)")  # fmt: skip
        return "held"

    @property
    def pps(self) -> float:
        return self.packets / self.window_s if self.window_s else 0.0

    @property
    def cpu_pct(self) -> float:
        return self.cpu_s / self.window_s * 100 if self.window_s else 0.0

    @property
    def us_per_packet(self) -> float:
        return self.cpu_s / self.packets * 1e6 if self.packets else 0.0

    @property
    def rss_per_session_kib(self) -> float:
        return (self.end_rss_kib - self.idle_rss_kib) / self.n


def start_server(
    procs: proc.Processes, args, storage: Path, log: Path
) -> tuple[subprocess.Popen, str, list[str]]:
    argv = [
        args.server_bin, "--listen", "127.0.0.1:0", "--storage", str(storage),
        "--rtp-ports", f"{SERVER_PORTS[0]}-{SERVER_PORTS[1]}",
        "--max-sessions", str(args.max_sessions), "--idle-timeout", "300",
    ]  # fmt: skip
    with open(log, "wb") as err:
        p = procs.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    deadline = time.monotonic() + READY_TIMEOUT_S
    fd = p.stdout.fileno()
    buf = b""
    while b"\n" not in buf:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if r else b""
        if not chunk:
            raise BenchError(f"callrec-server did not start: {log.read_text(errors='replace')}")
        buf += chunk
    words = buf.decode().split()
    control = next((w.split("=", 1)[1] for w in words if w.startswith("control=")), None)
    if not control:
        raise BenchError(f"callrec-server said {buf!r}")
    return p, control, argv


def server_level(procs: proc.Processes, args, n: int, workdir: Path) -> Level:
    lv = Level(n)
    d = workdir / f"n{n}"
    d.mkdir(parents=True)
    storage = d / "storage"
    server, control, lv.server_argv = start_server(procs, args, storage, d / "server.log")
    time.sleep(0.5)
    lv.idle_rss_kib = vm_rss_kib(server.pid)
    sessions_file = d / "sessions.json"
    lv.loadgen_argv = [
        args.loadgen_bin, "--server", control, "--sessions", str(n),
        "--seconds", f"{args.seconds:g}", "--rate", f"{args.rate:g}",
        "--per-ip", str(PER_IP), "--sessions-out", str(sessions_file),
    ]  # fmt: skip
    with open(d / "loadgen.err", "wb") as err:
        lg = procs.start(lv.loadgen_argv, stdout=subprocess.PIPE, stderr=err)
    lines = Lines(lg, "loadgen")
    sampler = Sampler(server.pid)
    s0 = None
    ramp_timeout = n / args.rate + 60
    while (ev := lines.next(ramp_timeout if s0 is None else args.seconds + 120)) is not None:
        kind = ev.get("event")
        if kind == "started":
            lv.started = ev
            print(f"   started {ev['sessions_started']}/{n} in {ev['start_seconds']:.1f} s"
                  f" (refused {ev['sessions_refused']})", flush=True)  # fmt: skip
        elif kind == "send_start":
            s0 = (time.monotonic(), proc.cpu_seconds(server.pid),
                  threads_cpu(server.pid), proc.cpu_seconds(lg.pid), udp_snmp(),
                  softnet_dropped())  # fmt: skip
            psi0 = {r: psi_total_us(r) for r in ("cpu", "io")}
            steal0 = cpu_steal_ticks()
            sampler.start()
        elif kind == "send_end":
            t1, c1 = time.monotonic(), proc.cpu_seconds(server.pid)
            th1, lg1, snmp1, sn1 = threads_cpu(server.pid), proc.cpu_seconds(lg.pid), udp_snmp(), softnet_dropped()  # fmt: skip
            lv.end_rss_kib = vm_rss_kib(server.pid)
            table = udp_sockets(*SERVER_PORTS)
            sampler.stop_event.set()
            t0, c0, th0, lg0, snmp0, sn0 = s0
            lv.window_s = t1 - t0
            lv.cpu_s = c1 - c0
            lv.threads_pct = {k: (v - th0.get(k, 0.0)) / lv.window_s * 100 for k, v in th1.items()}
            lv.loadgen_cpu_pct = (lg1 - lg0) / lv.window_s * 100
            lv.snmp = {k: snmp1[k] - snmp0[k] for k in snmp1}
            lv.softnet_drops = sn1 - sn0
            lv.steal_s = (cpu_steal_ticks() - steal0) / proc.CLK_TCK
            for r, before in psi0.items():
                after = psi_total_us(r)
                for kind in before:
                    lv.psi[f"{r} {kind}"] = (after[kind] - before[kind]) / 1e6 / lv.window_s
            lv.socket_drops = table.drops
            lv.peak_rx_queue = table.max_rx_queue
            lv.shared_ports |= table.shared
            p = ev["pacing"]
            print(f"   window {lv.window_s:.2f} s: server CPU {lv.cpu_pct:.1f}% of a core, "
                  f"RSS {lv.end_rss_kib / 1024:.0f} MiB, "
                  f"RcvbufErrors +{lv.snmp['RcvbufErrors']}, socket drops {table.drops}, "
                  f"sender p99/max end lateness {p['end_late_ms']['p99']:.2f}/"
                  f"{p['end_late_ms']['max']:.2f} ms", flush=True)  # fmt: skip
        elif kind == "summary":
            lv.summary = ev
    sampler.stop_event.set()
    if sampler.is_alive():
        sampler.join()
    lv.peak_threads_pct = dict(sampler.peak_thread_pct)
    lv.peak_rx_queue = max(lv.peak_rx_queue, sampler.peak_rx_queue)
    lv.rx_queue_trace = sampler.rx_queue_trace
    lv.shared_ports |= sampler.shared_ports
    lv.blocked = {f"{t} in {w or '?'}": n / max(1, sampler.state_samples)
                  for (t, w), n in sampler.blocked.most_common(4)}  # fmt: skip
    lv.peak_mem = dict(sampler.peak_mem)
    lv.oversleep = sampler.max_oversleep
    if sampler.error:
        print(f"   sampler: {sampler.error}", flush=True)
    rc = lg.wait(timeout=60)
    procs.running.remove(lg)
    if rc != 0 or not lv.summary or s0 is None:
        raise BenchError(f"loadgen exited {rc}: {(d / 'loadgen.err').read_text(errors='replace')}")
    # The server's own end; no session should be left for it to finish.
    src = procs.stop(server)
    if src != 0:
        lv.problems[f"server exited {src}"] += 1
    lv.server_warnings = [
        line for line in (d / "server.log").read_text(errors="replace").splitlines()
        if " WARN" in line or " ERROR" in line
    ]  # fmt: skip
    verify(lv, args, storage, sessions_file)
    lv.packets = lv.summary["packets_sent"]
    if lv.shared_ports:
        lv.problems["server port also bound by another socket"] += len(lv.shared_ports)
    if lv.problems.keys() & {"received != sent", "lost > 0"} and not (
        lv.snmp.get("RcvbufErrors") or lv.snmp.get("MemErrors") or lv.socket_drops
        or lv.softnet_drops  # fmt: skip
    ):
        # Nothing the kernel counts dropped them: they never reached the session's socket (or
        # were never read). One known way: another SO_REUSEADDR socket on the session's port.
        lv.problems["(no kernel drop counter moved)"] += 1
    lv.passed = not lv.problems
    # The recordings stay until the end of the run (bench-server removes the work directory):
    # deleting thousands of files just before the next level would make its file creations
    # slower (ext4 skips inodes deleted within the last minutes: recently_deleted()).
    lv.storage_bytes = sum(f.stat().st_size for f in storage.glob("*/*"))
    return lv


def verify(lv: Level, args, storage: Path, sessions_file: Path) -> None:
    s, st = lv.summary, lv.started
    if st["sessions_refused"]:
        for reason, count in st["refused_reasons"].items():
            lv.problems[f"refused: {reason}"] += count
    if s["stop"]["failed"]:
        for reason, count in s["stop"]["failures"].items():
            lv.problems[f"stop failed: {reason}"] += count
    if s["send_errors"]:
        lv.problems[f"loadgen send errors ({s['pacing']['last_error']})"] += s["send_errors"]
    sessions = json.loads(sessions_file.read_text())
    sidecars = {}
    for path in storage.glob("*/*.json"):
        sc = json.loads(path.read_text())
        sidecars[sc["id"]] = (path, sc)
    files = []
    for sess in sessions:
        got = sidecars.pop(sess["id"], None)
        if got is None:
            lv.problems["no sidecar"] += 1
            continue
        path, sc = got
        sent, stats = sess["sent"], sc["stats"]
        checks = {
            "received != sent": stats["received"] != sent,
            "lost > 0": stats["lost"] != 0,
            "late > 0": stats["late"] != 0,
            "duplicates > 0": stats["duplicates"] != 0,
            "malformed > 0": stats["malformed"] != 0,
            "from strangers > 0": stats["from_strangers"] != 0,
            "stop reason not loadgen": sc["stop_reason"] != "loadgen",
            "sidecar duration != audio sent": sc["duration_ms"] != round(sent * PERIOD_S * 1000),
            "not one file": len(sc["files"]) != 1,
        }
        for what, bad in checks.items():
            lv.problems[what] += bad
        files += [(path.parent / f, sent) for f in sc["files"][:1]]
    if sidecars:
        lv.problems["sidecars of no loadgen session"] += len(sidecars)
    lv.problems = collections.Counter({k: v for k, v in lv.problems.items() if v})

    def check_file(item):
        f, sent = item
        audio = sent * FRAME_BYTES
        r = subprocess.run([args.callrec_bin, "info", "--json", str(f)], capture_output=True)
        if r.returncode != 0:
            return ["file unreadable"]
        i = json.loads(r.stdout)
        bad = []
        if i["duration_ms"] != round(sent * PERIOD_S * 1000) or i["data_size"] != audio:
            bad.append("file duration != audio sent")
        # Not stale: the file is the header and then exactly dataSize bytes.
        if i["stale_header"] or i["header_data_size"] != audio:
            bad.append("file header stale or file size != header + audio")
        return bad

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for bad in pool.map(check_file, files):
            lv.files_checked += 1
            for b in bad:
                lv.problems[b] += 1


# --------------------------------------------------------------------------------------------
# ffmpeg


@dataclass
class FfmpegRun:
    m: int
    window_s: float = 0.0
    cpu_s: float = 0.0
    rss_kib: int = 0
    complete: int = 0
    pacing: dict = field(default_factory=dict)
    argv: list = field(default_factory=list)
    loadgen_argv: list = field(default_factory=list)
    problems: collections.Counter = field(default_factory=collections.Counter)

    @property
    def cpu_pct_per_stream(self) -> float:
        return self.cpu_s / self.window_s * 100 / self.m if self.window_s else 0.0

    @property
    def us_per_packet(self) -> float:
        packets = self.m * self.window_s / PERIOD_S
        return self.cpu_s / packets * 1e6 if packets else 0.0


def sdp(port: int) -> str:
    return (
        "v=0\r\n"
        "o=- 0 0 IN IP4 127.0.0.1\r\n"
        "s=callrec bench-server\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 8\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=ptime:20\r\n"
    )


def ffmpeg_argv(sdp_path: Path, out: Path) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-nostats", "-loglevel", "error",
        "-protocol_whitelist", "file,udp,rtp", "-localaddr", "127.0.0.1",
        "-i", str(sdp_path), "-c", "copy", "-f", "alaw", "-y", str(out),
    ]  # fmt: skip


def ffmpeg_run(procs: proc.Processes, args, workdir: Path) -> FfmpegRun:
    m = args.ffmpeg
    run = FfmpegRun(m)
    d = workdir / "ffmpeg"
    d.mkdir(parents=True)
    ports = [FFMPEG_BASE + 2 * k for k in range(m)]
    taken = udp_sockets(FFMPEG_BASE, FFMPEG_BASE + 2 * m).bound
    if taken:
        raise BenchError(f"UDP ports {sorted(taken)[:5]}… are taken; ffmpeg needs "
                         f"{FFMPEG_BASE}-{FFMPEG_BASE + 2 * m - 1}")  # fmt: skip
    ffs = []
    with open(d / "ffmpeg.log", "wb") as err:
        for k, port in enumerate(ports):
            (d / f"s{k}.sdp").write_text(sdp(port))
            argv = ffmpeg_argv(d / f"s{k}.sdp", d / f"s{k}.alaw")
            run.argv = argv
            ffs.append(procs.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=err))  # fmt: skip
    want = set(ports) | {p + 1 for p in ports}
    deadline = time.monotonic() + READY_TIMEOUT_S + m * 0.2
    while not want <= udp_sockets(FFMPEG_BASE, FFMPEG_BASE + 2 * m).bound:
        if time.monotonic() > deadline or any(f.poll() is not None for f in ffs):
            raise BenchError(f"ffmpeg did not open its ports: {(d / 'ffmpeg.log').read_text()}")
        time.sleep(0.05)
    time.sleep(0.5)
    sessions_file = d / "streams.json"
    run.loadgen_argv = [
        args.loadgen_bin, "--raw", f"127.0.0.1:{FFMPEG_BASE}", "--count", str(m), "--step", "2",
        "--seconds", f"{args.seconds:g}", "--bye", "--sessions-out", str(sessions_file),
    ]  # fmt: skip
    with open(d / "loadgen.err", "wb") as err:
        lg = procs.start(run.loadgen_argv, stdout=subprocess.PIPE, stderr=err)
    lines = Lines(lg, "loadgen --raw")
    c0 = t0 = None
    cpu = lambda: sum(proc.cpu_seconds(f.pid) for f in ffs)  # noqa: E731
    while (ev := lines.next(args.seconds + 60)) is not None:
        if ev.get("event") == "send_start":
            t0, c0 = time.monotonic(), cpu()
        elif ev.get("event") == "send_end":
            t1, c1 = time.monotonic(), cpu()
            run.rss_kib = sum(vm_rss_kib(f.pid) for f in ffs)
            run.window_s, run.cpu_s = t1 - t0, c1 - c0
            run.pacing = ev["pacing"]
    if lg.wait(timeout=30) != 0 or c0 is None or not run.window_s:
        raise BenchError(f"loadgen --raw failed: {(d / 'loadgen.err').read_text()}")
    procs.running.remove(lg)
    streams = json.loads(sessions_file.read_text())
    for k, f in enumerate(ffs):
        try:
            f.wait(timeout=15)
        except subprocess.TimeoutExpired:
            run.problems["ffmpeg did not end on the RTCP BYE"] += 1
        procs.stop(f, timeout=5)
        out = d / f"s{k}.alaw"
        size = out.stat().st_size if out.exists() else -1
        if size == streams[k]["sent"] * FRAME_BYTES:
            run.complete += 1
        else:
            run.problems["ffmpeg output != audio sent"] += 1
    shutil.rmtree(d)
    return run


# --------------------------------------------------------------------------------------------
# Report


def git_version() -> str:
    """The commit the binaries were built from, and whether the working tree differed."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        return head + (" with local changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def fs_type(path: str) -> str:
    best = ("", "?", "?")
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            dev, mount, kind = line.split()[:3]
            if (path + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
                best = (mount, kind, dev)
    return f"{best[1]} ({best[2]})"


def kib(x: float) -> str:
    return f"{x:.1f} KiB" if x < 1024 else f"{x / 1024:.2f} MiB"


def above_note(levels: list[Level]) -> str:
    """What happened to the first level above the largest that counted."""
    clean = [lv.n for lv in levels if lv.clean]
    above = [lv for lv in levels if not lv.clean and lv.n > max(clean, default=0)]
    if not above:
        return ""
    lv = above[0]
    if lv.passed:
        return (f" ({lv.n} held too, but the loadgen delivered only {lv.sender_share:.0%} of its "
                "packet rate: the 2 CPUs were saturated)")  # fmt: skip
    return f" ({lv.n} failed: {'; '.join(lv.problems)})"


def describe_waits(lv: Level) -> str:
    blocked = ", ".join(f"{k} {v:.1%}" for k, v in lv.blocked.items()) or "never"
    mem = ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in sorted(lv.peak_mem.items()))
    trace = " ".join(f"{t:g}s:{q}" for t, q in lv.rx_queue_trace)
    psi = ", ".join(f"{k} {v:.1%}" for k, v in lv.psi.items())
    behind = lv.summary.get("pacing", {}).get("seconds_over_20ms_late", [])
    behind_text = " ".join(f"{s}s:{ms:g}ms" for s, ms in behind[:12]) or "none"
    if len(behind) > 12:
        behind_text += f" … ({len(behind)} seconds)"
    return (
        f"server threads in D state: {blocked}; peak {mem or '?'}; pressure stall (share of "
        f"the window) {psi or '?'}; steal {lv.steal_s:.2f} s; the sampler's longest oversleep "
        f"{lv.oversleep[0] * 1000:.0f} ms at {lv.oversleep[1]:g} s; loadgen seconds with a slot "
        f"over 20 ms late: {behind_text}; fullest rx queue (window s: bytes): {trace or '?'}"
    )


def markdown(levels: list[Level], ff: FfmpegRun | None, args, untried: list[int]) -> str:
    held = [lv for lv in levels if lv.clean]
    best = held[-1] if held else None
    target_ok = best is not None and best.n >= args.target
    def cmd(argv: list[str]) -> str:
        text = shlex.join(map(str, argv)).replace(args.workdir, "$TMP")
        text = text.replace(os.getcwd() + "/", "")
        if "--server" in argv:
            text = text.replace(argv[argv.index("--server") + 1], "127.0.0.1:PORT")
        if ff and argv is ff.argv:
            text = text.replace(f"s{ff.m - 1}.", "sK.")
        return text

    per_stream = best.cpu_pct / best.n if best else 0.0
    ratio = (per_stream / ff.cpu_pct_per_stream if best and ff and ff.cpu_pct_per_stream
             else None)  # fmt: skip
    out = [
        "# bench-server: callrec-server under concurrent 20 ms G.711 sessions",
        "",
        f"{args.seconds:g} s of 20 ms PCMA RTP (172-byte packets, 50/s) per session, from "
        "`loadgen` in a second process on loopback. A level holds if every session started and "
        "stopped, and every sidecar and file shows all the packets sent received and recorded: "
        "lost, late, duplicates 0, the file complete. It counts if, besides, the loadgen "
        f"delivered at least {SENDER_KEPT_UP:.0%} of N × 50 packets/s over the window (on 2 "
        "CPUs the loadgen and the server compete; a late sender never skips a packet, it falls "
        "behind). Levels are tried in order "
        f"({', '.join(args.counts.replace(',', ' ').split())}) up to the first that does not "
        "count, then bisected between the last that did and it.",
        "",
        "| metric | value | target | pass/fail |",
        "|---|---|---|---|",
    ]
    if best:
        out += [
            f"| max concurrent sessions held {args.seconds:g} s (zero loss, every file complete)"
            f" | **{best.n}**{args.top_note} | ≥ {args.target:,} | "
            f"{'pass' if target_ok else 'fail'} |",
            f"| packets/s at that count | {best.pps:,.0f} | ≥ {args.target * 50:,} | "
            f"{'pass' if target_ok else 'fail'} |",
            f"| server CPU at that count (utime+stime) | {best.cpu_pct:.1f}% of one core | — | info |",
            f"| server CPU per stream | {per_stream:.4f}% of one core | — | info |",
            f"| server CPU per packet | {best.us_per_packet:.2f} µs | — | info |",
            f"| server memory per session (VmRSS growth / sessions) | "
            f"{kib(best.rss_per_session_kib)} ({kib(best.idle_rss_kib)} idle → "
            f"{kib(best.end_rss_kib)}) | — | info |",
        ]  # fmt: skip
    else:
        out.append(f"| max concurrent sessions held {args.seconds:g} s | none of the levels | "
                   f"≥ {args.target:,} | fail |")  # fmt: skip
    if ff:
        out += [
            f"| `ffmpeg -c copy` CPU per stream ({ff.m} processes, one stream each) | "
            f"{ff.cpu_pct_per_stream:.4f}% of one core ({ff.us_per_packet:.1f} µs per packet; "
            f"{kib(ff.rss_kib / ff.m)} RSS each; {ff.complete}/{ff.m} outputs complete) | — | "
            f"{'info' if not ff.problems else 'fail: ' + ', '.join(ff.problems)} |",
            f"| CPU per stream, callrec-server / ffmpeg | "
            f"{'—' if ratio is None else f'{ratio:.4f} (ffmpeg costs {1 / ratio:.0f}×)'} "
            f"| — | info |",
        ]  # fmt: skip
    out += [
        "",
        "Every level:",
        "",
        "| sessions | result | packets/s (of N × 50) | server CPU (% of a core) | per stream | µs/packet | "
        "memory/session | per thread, window avg (peak 1 s) | UDP RcvbufErrors Δ / server "
        "socket drops / fullest rx queue | sender end lateness p99 / max | loadgen CPU | "
        "session starts |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        threads = ", ".join(
            f"{thread_label(k)} {v:.0f}% ({lv.peak_threads_pct.get(k, 0):.0f}%)"
            for k, v in sorted(lv.threads_pct.items()) if v >= 0.5
        )  # fmt: skip
        p = lv.summary.get("pacing", {})
        late = p.get("end_late_ms", {})
        result = lv.verdict()
        out.append(
            f"| {lv.n} | {result} | {lv.pps:,.0f} ({lv.sender_share:.0%}) | {lv.cpu_pct:.1f} | "
            f"{lv.cpu_pct / lv.n:.4f}% | {lv.us_per_packet:.2f} | {kib(lv.rss_per_session_kib)} | "
            f"{threads} | {lv.snmp.get('RcvbufErrors', '?')} / {lv.socket_drops} / "
            f"{lv.peak_rx_queue} B | {late.get('p99', 0):.2f} / {late.get('max', 0):.2f} ms | "
            f"{lv.loadgen_cpu_pct:.0f}% | {lv.started.get('start_rate_per_s', 0):.0f}/s, p99 "
            f"{lv.started.get('start_latency_ms', {}).get('p99', 0):.1f} ms |"
        )  # fmt: skip
    out += ["", "Where time went, per level: the share of 0.25 s samples a server thread was "
            "blocked in the kernel (state D, with its wait channel); the page cache's peak dirty "
            "and writeback memory; /proc/pressure stall time (some/full) and CPU steal over the "
            "window; how late the bench's own 0.25 s sampler woke at worst (a machine-wide "
            "stall); the seconds of the window in which a loadgen slot finished over 20 ms late; "
            "the fullest server socket receive queue (bytes; every 0.5 s for 6 s, then every "
            "2 s; 832 B per queued packet, the buffer is 2 × 256 KiB = 512 KiB as the kernel "
            "counts it).", ""]
    for lv in levels:
        out.append(f"- {lv.n}: " + describe_waits(lv))
    if untried:
        out += ["", f"Not tried: {', '.join(map(str, untried))} (after a failure, over the "
                "open-file or port limit, or over the time budget)."]  # fmt: skip
    warnings = [w for lv in levels for w in lv.server_warnings[:3]]
    if warnings:
        out += ["", "Server warnings (first of each level):", "", "```", *warnings[:12], "```"]
    lv0 = best or (levels[-1] if levels else None)
    out += [
        "",
        "CPU per stream = the server's utime + stime over the window / window / sessions (% of "
        "one core); µs per packet = the same CPU time / packets sent in the window. Memory per "
        "session = (VmRSS at the window's end − VmRSS of the idle server) / sessions. The window "
        "runs from the loadgen's first deadline to one period after its last tick; the session "
        "starts (ramped) and stops are outside it. On loopback the kernel's UDP receive path "
        "runs in the sender's softirq and is charged to the sender (the loadgen) for the server "
        "and ffmpeg alike (this kernel has no IRQ time accounting). Sender lateness: how long "
        "after its deadline each 2 ms slot finished sending; the loadgen never skips a tick. "
        "Method: scripts/bench_server_run.py.",
        "",
        "Commands ($TMP: a temporary directory under target/, on the real disk, kept "
        "through the run and removed at its end; the open-file limit raised with `ulimit -n` first; PORT: the control port "
        f"the server printed; sK: stream K of the M ffmpeg processes, its RTP on {FFMPEG_BASE} "
        "+ 2K):",
        "",
        "```",
        *args.command,
    ]
    if lv0:
        out += [cmd(lv0.server_argv), cmd(lv0.loadgen_argv)]
    if ff:
        out += [cmd(ff.argv), cmd(ff.loadgen_argv)]
    ffv = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()
    out += [
        "```",
        "",
        f"Host: {platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); {' '.join(ffv[:3])}; storage $TMP on "
        f"{fs_type(args.workdir)}; open files {args.nofile}; callrec {git_version()}.",
    ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--server-bin", required=True)
    a.add_argument("--callrec-bin", required=True)
    a.add_argument("--loadgen-bin", required=True)
    a.add_argument("--seconds", type=float, default=60.0)
    a.add_argument("--counts", default="1000,2000,3000,4000,5000,6000")
    a.add_argument("--rate", type=float, default=400.0, help="session starts per second")
    a.add_argument("--ffmpeg", type=int, default=50, help="ffmpeg processes (0: none)")
    a.add_argument("--refine", type=int, default=2,
                   help="bisection steps between the last level held and the first failed")
    a.add_argument("--target", type=int, default=2000)
    a.add_argument("--budget", type=float, default=840.0, help="seconds for the whole run")
    a.add_argument("--workdir", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--command", action="append", default=[], help="shown in the report")
    return a.parse_args()


def main() -> int:
    began = time.monotonic()
    args = parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: sys.exit(128 + n))
    args.workdir = str(Path(args.workdir).resolve())
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    import resource

    args.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    counts = [int(c) for c in args.counts.replace(",", " ").split()]
    args.max_sessions = max(counts) + 100
    # Every level's recordings stay to the end: the audio, with a margin for the page cache.
    need = sum(counts) * args.seconds * 8000 * 1.1
    st = os.statvfs(workdir)
    if st.f_bavail * st.f_frsize < need + 2**30:
        print(f"bench-server: {need / 2**30:.1f} GiB of free disk needed under {workdir}",
              file=sys.stderr)  # fmt: skip
        return 2
    procs = proc.Processes(grace=0)
    levels: list[Level] = []
    untried: list[int] = []
    ff = None
    try:
        # What the ffmpeg run needs of the budget, kept back from the ladder.
        ff_cost = args.seconds + 20 if args.ffmpeg else 0

        def fits(n: int) -> str | None:
            """Why level n cannot run now, or None."""
            # The server needs a socket, a control connection and a file per session.
            if 3 * n + 200 > args.nofile:
                return (f"the server would need about {3 * n + 200:,} open files, over the "
                        f"limit of {args.nofile:,} (ulimit -Hn)")  # fmt: skip
            if n > SERVER_PORTS[1] - SERVER_PORTS[0] + 1:
                return f"over the RTP port range {SERVER_PORTS[0]}-{SERVER_PORTS[1]}"
            cost = n / args.rate + args.seconds + 15 + n / 400
            if time.monotonic() - began + cost + ff_cost > args.budget:
                return f"over the time budget ({args.budget:g} s)"
            return None

        def level(n: int) -> Level:
            print(f"== {n} sessions, {args.seconds:g} s", flush=True)
            lv = server_level(procs, args, n, workdir)
            levels.append(lv)
            print(f"   {lv.verdict()} "
                  f"({lv.files_checked} files checked, {lv.storage_bytes / 2**30:.2f} GiB)\n"
                  f"   {describe_waits(lv)}", flush=True)  # fmt: skip
            return lv

        for i, n in enumerate(counts):
            if (why := fits(n)) is not None:
                print(f"== {n} sessions: {why}; not tried", flush=True)
                untried = counts[i:]
                break
            if not level(n).clean:
                untried = counts[i + 1 :]
                break
        # Between the last clean level and the first that was not (failed, or the loadgen could
        # not keep up), a few bisection steps.
        failed = [lv.n for lv in levels if not lv.clean]
        args.top_note = ""
        if levels and not failed:
            step = counts[-1] - counts[-2] if len(counts) > 1 else counts[-1]
            nxt = levels[-1].n + step
            why = untried and fits(untried[0]) or fits(nxt) or "not in BENCH_COUNTS"
            args.top_note = (f" (no level failed; {untried[0] if untried else nxt} not tried: "
                             f"{why})")  # fmt: skip
        for _ in range(args.refine if failed else 0):
            low = max([lv.n for lv in levels if lv.clean and lv.n < min(failed)], default=0)
            n = (low + min(failed)) // 2 // 100 * 100
            if n <= low or n >= min(failed) or fits(n) is not None:
                break
            if not level(n).clean:
                failed.append(n)
        levels.sort(key=lambda lv: lv.n)
        if failed:
            args.top_note = above_note(levels)
        if args.ffmpeg:
            print(f"== ffmpeg -c copy: {args.ffmpeg} processes, {args.seconds:g} s", flush=True)
            ff = ffmpeg_run(procs, args, workdir)
        report = markdown(levels, ff, args, untried)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print()
        print(report, end="")
        print(f"\n(written to {args.out}; {time.monotonic() - began:.0f} s)")
        held = [lv.n for lv in levels if lv.clean]
        if not held or max(held) < args.target:
            print(f"bench-server: target missed: fewer than {args.target} sessions held",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    except BenchError as e:
        print(f"bench-server: {e}", file=sys.stderr)
        return 2
    except Exception:  # a bug or a surprise: still "could not measure", not "target missed"
        traceback.print_exc()
        return 2
    finally:
        procs.stop_all()


if __name__ == "__main__":
    sys.exit(main())
