"""callrec agent vs `ffmpeg -c copy` recording the same 20 ms PCMA RTP stream (run by
scripts/bench-local, which builds the binaries first).

The stream is written by `callrec-loadgen --write` (bench_local_rtp.py); the agent's recording is
read back through `callrec info --json`. One sender paces one stream to both recorders at once:
each packet goes to the agent's tap and to ffmpeg's RTP port. Both processes are started, bound
and (for the agent) recording before the first packet, and their counters are read from /proc at
fixed points of the stream:

    S0  stream start, just before packet 0      (start-up of both processes excluded)
    SW  stream time 1 s, the end of the warm-up  (ffmpeg's probing, the agent's file open)
    S1  stream end, one period after the last packet
    S2  callrec: right after `ctl stop` returns (the file is closed, the last audio written)
    F2  ffmpeg: after it has exited on the stream's RTCP BYE, before it is reaped

Metrics and why they are read where they are:
- Peak RSS: VmHWM, read as late as the process still has memory: callrec at S2, ffmpeg at S1.
- CPU time: utime + stime of the whole process life up to the end of the recording, start-up
  included: callrec at S2 (its stop and close included), ffmpeg at S1 (its trailer and exit
  excluded). Both are read while the process runs, never after a signal. The on-CPU time during
  the stream alone (S0 -> S2 / S1, from schedstat in ns) is shown under it, per packet.
- Write calls per second, steady state: syscw from SW to S1 over that stretch of stream time.
  The agent commits once a second, counted from `ctl start`; the stream starts PHASE_S after it,
  so every commit falls about half a second from SW and S1 and the count cannot depend on a race
  between a sample and a commit. The stretch is measured in stream time (deadlines), since the
  samples are taken at the deadlines (their lateness is reported). The eventfd wake-ups of the
  agent's runtime are write calls too; they are counted in, and shown apart below.
- Bytes written per audio byte: wchar over the whole recording (callrec S0 -> S2, ffmpeg
  S0 -> F2) over the stream's payload bytes. Not S0 -> S1: at S1 both still hold audio (the
  agent up to a second of it until `ctl stop`, ffmpeg its whole output buffer until it exits),
  so the bytes written would not match the audio bytes counted. The whole recording includes
  the per-file costs (the first header, the closing commit); the steady-state figure (SW -> S1,
  over the audio of that stretch) is shown under it. A control reply is sent on the control
  socket inside S0 -> S2; its cost is measured once before the run (a `ctl status` between two
  samples): send() is not counted by /proc/PID/io, and if a reply ever is a write() of its
  length, `ctl stop`'s reply is subtracted.
- Packet-path allocations: from the alloc-count build's `ctl stop` reply, at two stream lengths
  (the count must not grow with the number of packets; it should be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import bench_local_proc as proc
import bench_local_rtp as rtp

PHASE_S = 0.5
WARMUP_S = 1.0
READY_TIMEOUT_S = 15.0

RSS_TARGET_KIB = 4 * 1024
CPU_RATIO_TARGET = 0.2
WRITES_PER_S_TARGET = 2.0
BYTES_PER_AUDIO_BYTE_TARGET = 1.01


class BenchError(Exception):
    """The benchmark could not measure (a process failed, a port never opened...)."""


# --------------------------------------------------------------------------------------------
# Processes


@dataclass
class Agent:
    binary: str
    process: subprocess.Popen
    tap: tuple[str, int]
    socket: Path
    log: Path
    stick: Path
    argv: list[str]

    def ctl(self, command: str) -> tuple[dict, bytes]:
        """`callrec ctl COMMAND --json`: the parsed reply and its exact bytes."""
        r = subprocess.run(
            [self.binary, "ctl", "--control-socket", str(self.socket), command, "--json"],
            capture_output=True,
            timeout=15,
        )
        if r.returncode != 0:
            raise BenchError(f"ctl {command} failed: {r.stdout!r} {r.stderr!r}\n{self.log_text()}")
        return json.loads(r.stdout), r.stdout

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(timeout=10) != 0:
            raise BenchError(f"agent exited {self.process.returncode}\n{self.log_text()}")


def agent_argv(binary: str, board: str, workdir: Path) -> list[str]:
    return [
        binary, "agent", "--board", board,
        "--usb-dir", str(workdir / "stick"),
        "--tap", "127.0.0.1:0", "--http", "127.0.0.1:0",
        "--control-socket", str(workdir / "ctl.sock"),
        # Absent: the defaults, whatever the host's /tmp/callrec/settings.json says.
        "--settings", str(workdir / "settings.json"),
    ]  # fmt: skip


def start_agent(procs: proc.Processes, binary: str, board: str, workdir: Path) -> Agent:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "stick").mkdir(exist_ok=True)
    argv = agent_argv(binary, board, workdir)
    log = workdir / "agent.log"
    with open(log, "wb") as err:
        # warn: nothing is logged while recording, so the agent's wchar is its recording alone.
        p = procs.start(
            argv,
            env=dict(os.environ, CALLREC_LOG="warn"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    # The ready line is printed once the tap and the control socket are bound.
    ready, _, _ = select.select([p.stdout], [], [], READY_TIMEOUT_S)
    line = p.stdout.readline().decode(errors="replace") if ready else ""
    tap = next((w[4:] for w in line.split() if w.startswith("tap=")), None)
    if tap is None:
        raise BenchError(f"agent did not start: {line!r}\n{log.read_text(errors='replace')}")
    host, port = tap.rsplit(":", 1)
    return Agent(binary, p, (host, int(port)), workdir / "ctl.sock", log, workdir / "stick", argv)


def free_rtp_port() -> int:
    """An even loopback UDP port whose odd neighbour (RTCP) is free too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port % 2 or port >= 65535:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise BenchError("no free RTP/RTCP port pair on 127.0.0.1")


def sdp(port: int) -> str:
    return (
        "v=0\r\n"
        "o=- 0 0 IN IP4 127.0.0.1\r\n"
        "s=callrec bench\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP {rtp.PT_PCMA}\r\n"
        f"a=rtpmap:{rtp.PT_PCMA} PCMA/{rtp.RATE_HZ}\r\n"
        "a=ptime:20\r\n"
    )


def ffmpeg_argv(sdp_path: Path, out: Path) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-nostats", "-loglevel", "error",
        "-protocol_whitelist", "file,udp,rtp",
        "-localaddr", "127.0.0.1",  # bind the RTP/RTCP ports on loopback only
        "-i", str(sdp_path),
        "-c", "copy", "-f", "alaw", "-y", str(out),
    ]  # fmt: skip


def udp_bound(port: int) -> bool:
    """A UDP socket is bound to 127.0.0.1:port (/proc/net/udp shows it as 0100007F:PORT)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/udp", encoding="ascii") as f:
        return any(line.split()[1] == local for line in list(f)[1:])


def start_ffmpeg(procs: proc.Processes, workdir: Path) -> tuple[subprocess.Popen, int, list[str]]:
    port = free_rtp_port()
    sdp_path = workdir / "stream.sdp"
    sdp_path.write_text(sdp(port))
    argv = ffmpeg_argv(sdp_path, workdir / "ffmpeg.alaw")
    with open(workdir / "ffmpeg.log", "wb") as err:
        p = procs.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + READY_TIMEOUT_S
    # Bound means ready: datagrams that arrive while ffmpeg is still setting up wait in the socket.
    while not (udp_bound(port) and udp_bound(port + 1)):
        if p.poll() is not None or time.monotonic() > deadline:
            log = (workdir / "ffmpeg.log").read_text(errors="replace")
            raise BenchError(f"ffmpeg did not open 127.0.0.1:{port}: {log}")
        time.sleep(0.02)
    return p, port, argv


# --------------------------------------------------------------------------------------------
# Runs


@dataclass
class MainRun:
    packets: int
    audio_bytes: int
    sent: bytes
    s0: dict[str, proc.Sample] = field(default_factory=dict)
    sw: dict[str, proc.Sample] = field(default_factory=dict)
    s1: dict[str, proc.Sample] = field(default_factory=dict)
    s2: proc.Sample | None = None
    ffmpeg_final_io: dict[str, int] = field(default_factory=dict)
    # What a control reply costs in syscw and wchar (0, 0 when replies are sent with send()).
    reply_writes: int = 0
    reply_bytes: int = 0
    stop_reply: bytes = b""
    counters: dict = field(default_factory=dict)
    agent_data: bytes = b""
    agent_files: int = 0
    agent_stale: int = 0  # files whose header `callrec info` finds stale
    ffmpeg_data: bytes = b""
    pacing: rtp.Pacing | None = None
    agent_argv: list[str] = field(default_factory=list)
    ffmpeg_argv: list[str] = field(default_factory=list)


def main_run(procs: proc.Processes, args, stream: rtp.Stream, workdir: Path) -> MainRun:
    run = MainRun(len(stream.packets), stream.audio_bytes, stream.payloads)
    agent = start_agent(procs, args.bin, args.board, workdir / "agent")
    ff, ff_port, run.ffmpeg_argv = start_ffmpeg(procs, workdir)
    run.agent_argv = agent.argv
    pids = {"callrec": agent.process.pid, "ffmpeg": ff.pid}

    # What one control reply costs in the agent's /proc/PID/io (its runtime's eventfd wake-ups
    # aside): nothing if it is sent with send(), one write of its length if with write().
    before = proc.sample(agent.process.pid)
    _, status_reply = agent.ctl("status")
    after = proc.sample(agent.process.pid)
    wakes = after.eventfd_writes - before.eventfd_writes
    run.reply_writes = after.syscw - before.syscw - wakes
    run.reply_bytes = after.wchar - before.wchar - 8 * wakes
    if (run.reply_writes, run.reply_bytes) not in ((0, 0), (1, len(status_reply))):
        raise BenchError(
            f"a {len(status_reply)} B control reply cost the agent {run.reply_writes} write(s) "
            f"and {run.reply_bytes} B: cannot tell recording writes from control traffic"
        )

    reply, _ = agent.ctl("start")
    if not reply.get("ok"):
        raise BenchError(f"ctl start refused: {reply}")
    start_at = time.monotonic() + PHASE_S
    warm = round(WARMUP_S / rtp.PERIOD_S)

    def take(into: dict[str, proc.Sample]):
        return lambda: into.update({name: proc.sample(pid) for name, pid in pids.items()})

    run.pacing = rtp.send_paced(
        stream.packets,
        [agent.tap, ("127.0.0.1", ff_port)],
        start_at,
        {0: take(run.s0), warm: take(run.sw), len(stream.packets): take(run.s1)},
    )

    reply, run.stop_reply = agent.ctl("stop")
    run.s2 = proc.sample(agent.process.pid)
    run.counters = reply["status"]["counters"]

    rtp.send_once(stream.bye, ("127.0.0.1", ff_port + 1))
    if not proc.wait_exited_unreaped(ff.pid, 15):
        raise BenchError("ffmpeg did not exit on the RTCP BYE")
    run.ffmpeg_final_io = proc.io_counters(ff.pid)
    if ff.wait() != 0:
        log = (workdir / "ffmpeg.log").read_text(errors="replace")
        raise BenchError(f"ffmpeg exited {ff.returncode}: {log}")
    agent.terminate()

    files = sorted(agent.stick.glob("Record_*"))
    run.agent_files = len(files)
    run.agent_data, run.agent_stale = recorded_audio(args.bin, files)
    run.ffmpeg_data = (workdir / "ffmpeg.alaw").read_bytes()
    return run


def recorded_audio(binary: str, files: list[Path]) -> tuple[bytes, int]:
    """The audio of Record files, in order, and how many have a stale header. `callrec info
    --json` gives dataSize; a header that is not stale means the file is the header and then
    dataSize bytes of audio."""
    audio, stale = [], 0
    for f in files:
        r = subprocess.run([binary, "info", str(f), "--json"], capture_output=True, timeout=15)
        if r.returncode != 0:
            raise BenchError(f"callrec info {f} failed: {r.stderr!r}")
        info = json.loads(r.stdout)
        stale += info["stale_header"]
        data = f.read_bytes()
        audio.append(data[len(data) - info["data_size"] :] if info["data_size"] else b"")
    return b"".join(audio), stale


@dataclass
class AllocRun:
    seconds: float
    packets: int
    received: int
    allocations: int | None


def alloc_run(procs: proc.Processes, args, stream: rtp.Stream, seconds: float, workdir: Path):
    packets = stream.packets[: round(seconds / rtp.PERIOD_S)]
    agent = start_agent(procs, args.alloc_bin, args.board, workdir)
    reply, _ = agent.ctl("start")
    if not reply.get("ok"):
        raise BenchError(f"ctl start refused: {reply}")
    rtp.send_paced(packets, [agent.tap], time.monotonic() + PHASE_S, {})
    reply, _ = agent.ctl("stop")
    agent.terminate()
    c = reply["status"]["counters"]
    return AllocRun(seconds, len(packets), c["received"], c.get("packet_path_allocations"))


# --------------------------------------------------------------------------------------------
# Report


@dataclass
class Row:
    metric: str
    callrec: str
    ffmpeg: str
    ratio: str
    target: str
    verdict: str  # pass, fail or info


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def mib(kib: int) -> str:
    return f"{kib / 1024:.2f} MiB ({kib} KiB)"


def rows_for(run: MainRun, allocs: list[AllocRun]) -> list[Row]:
    a0, aw, a1, a2 = run.s0["callrec"], run.sw["callrec"], run.s1["callrec"], run.s2
    f0, fw, f1, f2 = run.s0["ffmpeg"], run.sw["ffmpeg"], run.s1["ffmpeg"], run.ffmpeg_final_io
    ratio = lambda a, b: f"{a / b:.3f}" if b else "—"  # noqa: E731
    rows = []

    rss_a, rss_f = a2.peak_rss_kib, f1.peak_rss_kib
    rows.append(Row("peak RSS (VmHWM)", mib(rss_a), mib(rss_f), ratio(rss_a, rss_f),
                    "callrec ≤ 4 MiB", verdict(rss_a <= RSS_TARGET_KIB)))  # fmt: skip

    cpu_a, cpu_f = a2.cpu_s, f1.cpu_s
    rows.append(Row("CPU time (user+sys), process start to end of recording", f"{cpu_a:.2f} s",
                    f"{cpu_f:.2f} s", ratio(cpu_a, cpu_f), "ratio ≤ 0.2",
                    verdict(cpu_f > 0 and cpu_a / cpu_f <= CPU_RATIO_TARGET)))  # fmt: skip
    win_a, win_f = (a2.oncpu_ns - a0.oncpu_ns) / 1e9, (f1.oncpu_ns - f0.oncpu_ns) / 1e9
    per_packet = lambda s: f"{s:.3f} s, {s / run.packets * 1e6:.0f} µs/packet"  # noqa: E731
    rows.append(Row("↳ during the stream only (schedstat on-CPU time)", per_packet(win_a),
                    per_packet(win_f), ratio(win_a, win_f), "—", "info"))  # fmt: skip

    # Steady state: stream time WARMUP_S to the end (see the module doc on the commit phase).
    span = run.packets * rtp.PERIOD_S - WARMUP_S
    wps_a, wps_f = (a1.syscw - aw.syscw) / span, (f1.syscw - fw.syscw) / span
    wake_a = (a1.eventfd_writes - aw.eventfd_writes) / span
    wake_f = (f1.eventfd_writes - fw.eventfd_writes) / span
    rows.append(Row(f"write calls per second, steady state (syscw, stream {WARMUP_S:g}–"
                    f"{run.packets * rtp.PERIOD_S:g} s)", f"{wps_a:.3f}", f"{wps_f:.3f}",
                    ratio(wps_a, wps_f), "callrec ≤ 2",
                    verdict(wps_a <= WRITES_PER_S_TARGET)))  # fmt: skip
    rows.append(Row("↳ of which eventfd wake-ups (async runtime, 8 B each)", f"{wake_a:.3f}",
                    f"{wake_f:.3f}", "—", "—", "info"))  # fmt: skip
    rows.append(Row("↳ all other write calls (the recording file)", f"{wps_a - wake_a:.3f}",
                    f"{wps_f - wake_f:.3f}", ratio(wps_a - wake_a, wps_f - wake_f), "—",
                    "info"))  # fmt: skip

    # The whole recording: the agent from S0 to after `ctl stop`, ffmpeg to its exit.
    stop_reply = len(run.stop_reply) if run.reply_bytes else 0
    bytes_a = a2.wchar - a0.wchar - stop_reply
    bytes_f = f2["wchar"] - f0.wchar
    wakes_a = a2.eventfd_writes - a0.eventfd_writes
    bpa_a, bpa_f = bytes_a / run.audio_bytes, bytes_f / run.audio_bytes
    rows.append(Row(f"bytes written per audio byte, whole recording (wchar / "
                    f"{run.audio_bytes} B)", f"{bpa_a:.5f} ({bytes_a} B)",
                    f"{bpa_f:.5f} ({bytes_f} B)", ratio(bpa_a, bpa_f), "callrec ≤ 1.01",
                    verdict(bpa_a <= BYTES_PER_AUDIO_BYTE_TARGET)))  # fmt: skip
    rows.append(Row("↳ without the eventfd wake-ups",
                    f"{(bytes_a - 8 * wakes_a) / run.audio_bytes:.5f} "
                    f"({bytes_a - 8 * wakes_a} B)", "—", "—", "—", "info"))  # fmt: skip
    audio_span = span * rtp.FRAME_BYTES / rtp.PERIOD_S
    ss_a, ss_f = (a1.wchar - aw.wchar) / audio_span, (f1.wchar - fw.wchar) / audio_span
    rows.append(Row(f"↳ steady state (wchar, stream {WARMUP_S:g}–"
                    f"{run.packets * rtp.PERIOD_S:g} s, {audio_span:.0f} audio B)",
                    f"{ss_a:.5f}", f"{ss_f:.5f}", ratio(ss_a, ss_f), "—", "info"))  # fmt: skip
    writes_a = a2.syscw - a0.syscw - run.reply_writes
    writes_f = f2["syscw"] - f0.syscw
    rows.append(Row("write calls, whole recording", f"{writes_a} ({wakes_a} eventfd)",
                    str(writes_f), ratio(writes_a, writes_f), "—", "info"))  # fmt: skip

    if allocs and all(a.allocations is not None for a in allocs):
        text = "; ".join(f"{a.allocations} after {a.received} packets" for a in allocs)
        growth = allocs[-1].allocations - allocs[0].allocations
        rows.append(Row("packet-path heap allocations (alloc-count build, own runs)", text,
                        "n/a", "—", "0, or the same at every length",
                        verdict(growth <= 0)))  # fmt: skip
    else:
        rows.append(Row("packet-path heap allocations", "not reported", "n/a", "—",
                        "0 per packet", verdict(False)))  # fmt: skip

    same_a = run.agent_data == run.sent and run.agent_files == 1 and not run.agent_stale
    stale = f", {run.agent_stale} stale header" if run.agent_stale else ""
    same_f = run.ffmpeg_data == run.sent
    rows.append(Row("recording = the payload bytes sent, byte for byte",
                    f"{'yes' if same_a else 'no'} ({len(run.agent_data)} B, "
                    f"{run.agent_files} file{stale})", f"{'yes' if same_f else 'no'} "
                    f"({len(run.ffmpeg_data)} B)", "—", "both yes",
                    verdict(same_a and same_f)))  # fmt: skip
    c = run.counters
    rows.append(Row("packets received / lost / late (agent counters)",
                    f"{c['received']} / {c['lost']} / {c['late']}", "—", "—",
                    f"{run.packets} / 0 / 0",
                    verdict(c["received"] == run.packets and not c["lost"] and not c["late"])))  # fmt: skip
    return rows


def markdown(rows: list[Row], run: MainRun, allocs: list[AllocRun], args) -> str:
    def cmd(argv: list[str]) -> str:
        return shlex.join(argv).replace(args.workdir, "$TMP")

    ffmpeg_version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True)
    socket_path = run.agent_argv[run.agent_argv.index("--control-socket") + 1]
    p = run.pacing
    reply_note = (
        "control replies are sent with send(), which /proc/PID/io does not count"
        if not run.reply_bytes
        else f"a control reply is one write of its length; `ctl stop`'s {len(run.stop_reply)} B"
        " are subtracted"
    )
    out = [
        "# bench-local: callrec agent vs `ffmpeg -c copy`",
        "",
        f"One 20 ms G.711 A-law (PCMA, 8 kHz) RTP stream, {run.packets} packets "
        f"({run.packets * rtp.PERIOD_S:g} s, {run.audio_bytes} audio bytes), sent by one paced "
        "sender to both recorders at the same time on 127.0.0.1.",
        "",
        "| metric | callrec | ffmpeg -c copy | ratio | target | pass/fail |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {r.metric} | {r.callrec} | {r.ffmpeg} | {r.ratio} | {r.target} | "
                   f"{r.verdict} |")  # fmt: skip
    out += [
        "",
        f"Ratio = callrec / ffmpeg. CPU time resolution 1/{proc.CLK_TCK} s. Sender lateness: "
        f"max {p.max_late_s * 1000:.2f} ms, {p.late_over_5ms} deadline(s) over 5 ms. "
        f"In the agent's counts, {reply_note}. Where and why each figure is read: "
        "scripts/bench_local_run.py.",
        "",
        "Commands ($TMP: a temporary directory, removed afterwards):",
        "",
        "```",
        *args.command,
        cmd(rtp.loadgen_argv(args.loadgen, args.stream_seconds, Path(args.workdir) / "stream")),
        cmd(["env", "CALLREC_LOG=warn", *run.agent_argv]),
        cmd([args.bin, "ctl", "--control-socket", socket_path, "start|stop|status", "--json"]),
        cmd(run.ffmpeg_argv),
        "```",
        "",
        f"Host: {platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); {' '.join(ffmpeg_version.stdout.split()[:3])}; "
        f"$TMP on {fs_type(args.workdir)}.",
    ]
    if allocs:
        out += ["", "Allocation runs (alloc-count build, the same stream, callrec alone): " + 
                ", ".join(f"{a.seconds:g} s, {a.packets} packets sent, {a.received} received: "
                          f"{a.allocations}" for a in allocs) + "."]  # fmt: skip
    return "\n".join(out) + "\n"


def fs_type(path: str) -> str:
    best = ("", "?")
    with open("/proc/self/mounts", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            mount, kind = parts[1], parts[2]
            if (path + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
                best = (mount, kind)
    return best[1]


# --------------------------------------------------------------------------------------------


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--bin", required=True)
    a.add_argument("--alloc-bin", required=True)
    a.add_argument("--loadgen", required=True, help="callrec-loadgen, which writes the stream")
    a.add_argument("--board", required=True)
    a.add_argument("--seconds", type=float, default=60.0)
    a.add_argument("--alloc-seconds", default="10,20")
    a.add_argument("--workdir", help="temporary directory (made if absent, removed at the end)")
    a.add_argument("--out", required=True)
    a.add_argument("--command", action="append", default=[], help="shown in the report")
    return a.parse_args()


def main() -> int:
    args = parse_args()
    if args.seconds < WARMUP_S + 2:
        print(f"bench-local: BENCH_SECONDS must be at least {WARMUP_S + 2:g}", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: sys.exit(128 + n))
    args.workdir = str(Path(args.workdir or tempfile.mkdtemp(prefix="callrec-bench-")).resolve())
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    procs = proc.Processes()
    try:
        alloc_lengths = [float(s) for s in args.alloc_seconds.split(",")]
        args.stream_seconds = max([args.seconds, *alloc_lengths])
        full = rtp.write_stream(args.loadgen, args.stream_seconds, workdir / "stream")
        stream = full.first(round(args.seconds / rtp.PERIOD_S))
        print(f"== main run: {args.seconds:g} s to callrec and ffmpeg -c copy", flush=True)
        run = main_run(procs, args, stream, workdir / "main")
        allocs = []
        for i, seconds in enumerate(alloc_lengths):
            print(f"== alloc-count run: {seconds:g} s to callrec", flush=True)
            allocs.append(alloc_run(procs, args, full, seconds, workdir / f"alloc{i}"))
        rows = rows_for(run, allocs)
        report = markdown(rows, run, allocs, args)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print()
        print(report, end="")
        print(f"\n(written to {args.out})")
        missed = [r.metric for r in rows if r.verdict != "pass" and r.verdict != "info"]
        if missed:
            print("bench-local: target missed: " + "; ".join(missed), file=sys.stderr)
            return 1
        return 0
    except (BenchError, rtp.StreamError) as e:
        print(f"bench-local: {e}", file=sys.stderr)
        return 2
    except Exception:  # a bug or a surprise: still "could not measure", not "target missed"
        traceback.print_exc()
        return 2
    finally:
        procs.stop_all()
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(workdir)


if __name__ == "__main__":
    sys.exit(main())
