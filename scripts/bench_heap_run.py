"""The agent's heap while it records a call, on the host and on ARM under qemu-user (run by
scripts/bench-heap, which builds the binaries first).

Every agent records the same simulated call at the same time (one `callrec-sim run` each):
answered at 0.5 s, the record key at 1 s, the pause key at 1/3 and at 5/12 of the call (pause,
resume), a `status` step 2 s before the end, the record key (stop) 1 s before it, the hang-up at
the end; 20 ms PCMA, a 440 Hz tone.

What is read, and where:
- Heap (the `alloc-count` builds: host, armv7, aarch64 if built): `heap_now_bytes` and
  `heap_peak_bytes` of `callrec ctl status --json` at three points: idle after start-up (before
  the call), while recording (when the simulator prints its `status` step, 2 s before the end:
  the pause and resume are behind it), and idle after the stop and the hang-up. The peak is the
  highest since the process started. The figures are the sizes the program asked for
  (`Layout::size`), not what malloc rounds them to or its own overhead, so they are the same
  measure on every target and show what the code needs; the status request being answered is
  part of them (a few KiB).
- Peak RSS of the host's release build without `alloc-count` (what ships, on x86_64): VmHWM
  from /proc/PID/status at the same three points. Under qemu-user the RSS is qemu's (the
  emulator and its translated code, tens of MiB), so no RSS is given for ARM.

Why host and ARM differ: armv7 is a 32-bit target: every pointer, `usize`, `Vec`/`String`
header (3 words) and `Box` is half the size of x86_64's, so the same data structures take less;
aarch64 is 64-bit like x86_64 and should be within a few bytes of the host. Buffers whose size is
a byte count (the 32 KiB audio ring, the receive slots, the reorder window's packet storage)
are the same everywhere.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import arm_agent
import bench_local_proc as proc
from arm_agent import AgentError

SIM_TIMEOUT_EXTRA_S = 60.0
POINTS = ("idle", "recording", "stopped")
POINT_TEXT = {
    "idle": "idle after start-up",
    "recording": "recording, {t:g} s into the call (after pause and resume)",
    "stopped": "after stop and hang-up",
}


class BenchError(Exception):
    """The benchmark could not measure."""


def call_script(seconds: float) -> str:
    pause, resume = round(seconds / 3, 1), round(seconds * 5 / 12, 1)
    return f"""\
0.000 call started id=c1 dir=in remote=1002 codec=PCMA
0.500 call answered id=c1
1.000 key record
{pause:.3f} key pause
{resume:.3f} key pause
{seconds - 2:.3f} status
{seconds - 1:.3f} key record
{seconds:.3f} call ended id=c1
"""


@dataclass
class Variant:
    name: str  # the column
    binary: str
    prefix: list[str]  # [] or ["qemu-arm"]
    heap: bool  # an alloc-count build (heap figures) or the release build (RSS)


@dataclass
class Measured:
    variant: Variant
    status: dict[str, dict] = field(default_factory=dict)  # point -> status
    rss_kib: dict[str, tuple[int, int]] = field(default_factory=dict)  # point -> (HWM, RSS)
    argv: list[str] = field(default_factory=list)
    sim_argv: list[str] = field(default_factory=list)
    error: str | None = None


def vm_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB."""
    values = proc.status_kib(pid, "VmHWM", "VmRSS")
    return values["VmHWM"], values["VmRSS"]


def measure(procs, args, v: Variant, workdir: Path, script: Path, out: Measured) -> None:
    """One agent through the call (in its own thread; errors are kept in `out.error`)."""
    try:
        agent = arm_agent.start_agent(procs, v.name, v.prefix, v.binary, args.board,
                                      workdir, {}, args.ctl)  # fmt: skip
        out.argv = agent.argv

        def take(point: str) -> None:
            if v.heap:
                out.status[point] = agent.status()
            else:
                out.rss_kib[point] = vm_kib(agent.process.pid)

        take("idle")
        out.sim_argv = [args.sim, "run", str(script), "--tap", agent.tap,
                        "--control-socket", str(agent.socket), "--sine", "440",
                        "--seed", "7", "--strict"]  # fmt: skip
        sim = procs.start(out.sim_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)  # fmt: skip
        lines = []
        # The simulator prints each step when the agent has answered it: the `status` step is
        # the point "while recording"; the timeout only bounds a hung run.
        timer = threading.Timer(args.seconds + SIM_TIMEOUT_EXTRA_S, sim.kill)
        timer.start()
        try:
            for raw in sim.stdout:
                line = raw.decode(errors="replace")
                lines.append(line)
                if line.split()[1:2] == ["status"]:
                    take("recording")
            rc = sim.wait()
        finally:
            timer.cancel()
        if rc != 0:
            raise BenchError(f"{v.name}: callrec-sim exited {rc}:\n{''.join(lines)}")
        if "recording" not in out.status and "recording" not in out.rss_kib:
            raise BenchError(f"{v.name}: no status step seen:\n{''.join(lines)}")
        state = agent.status()
        if state["state"] != "idle" or state.get("last_stop") != "requested":
            raise BenchError(f"{v.name}: not stopped by the record key: {state}")
        if not state["files"] or state["recorded_ms"] < (args.seconds - 2) * 1000 * 0.8:
            raise BenchError(f"{v.name}: recorded {state['recorded_ms']} ms in "
                             f"{state['files']}")  # fmt: skip
        take("stopped")
        agent.terminate(procs)
    except (AgentError, BenchError, OSError) as e:
        out.error = str(e)
    except Exception:  # a bug: shown with the others
        out.error = traceback.format_exc()


# --------------------------------------------------------------------------------------------
# Report


def kib(n: int | None) -> str:
    return "—" if n is None else f"{n / 1024:,.1f} KiB ({n:,} B)"


def heap(m: Measured, point: str, key: str) -> int | None:
    return m.status.get(point, {}).get("counters", {}).get(key)


def markdown(args, measured: list[Measured]) -> str:
    heaps = [m for m in measured if m.variant.heap]
    host_rss = next((m for m in measured if not m.variant.heap), None)
    base = heaps[0]  # the host
    cols = " | ".join(m.variant.name for m in heaps)
    out = [
        "# bench-heap: the agent's heap while recording, host and ARM",
        "",
        f"One {args.seconds:g} s call of 20 ms PCMA (a 440 Hz tone) from `callrec-sim` into each "
        "agent at the same time: answered at 0.5 s, the record key at 1 s, pause and resume, "
        "the record key again 1 s before the hang-up. Heap: `alloc-count` builds (the `phone` "
        "profile, no default features, static on ARM), bytes the program asked for "
        "(`Layout::size`), from `callrec ctl status --json`.",
        "",
        f"| heap | {cols} |",
        "|---|" + "---|" * len(heaps),
    ]
    t = args.seconds - 2
    for point in POINTS:
        for key, what in (("heap_now_bytes", "now"), ("heap_peak_bytes", "peak")):
            cells = []
            for m in heaps:
                n = heap(m, point, key)
                cell = kib(n)
                if m is not base and n is not None and heap(base, point, key):
                    cell += f", {n / heap(base, point, key):.2f} × host"
                cells.append(cell)
            label = f"{what}, {POINT_TEXT[point].format(t=t)}"
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for m in heaps:
        rec, idle = heap(m, "recording", "heap_now_bytes"), heap(m, "idle", "heap_now_bytes")
        cells.append(kib(rec - idle) if rec is not None and idle is not None else "—")
    out.append("| ↳ held by the recording (now while recording − now idle) | "
               + " | ".join(cells) + " |")  # fmt: skip
    cells = [str(heap(m, "recording", "packet_path_allocations")) for m in heaps]
    out.append("| packet-path allocations while recording | " + " | ".join(cells) + " |")
    out.append("")
    if host_rss is not None and host_rss.rss_kib:
        out += [
            "| peak RSS, host release build without alloc-count | VmHWM | VmRSS |",
            "|---|---|---|",
        ]
        for point in POINTS:
            hwm, rss = host_rss.rss_kib.get(point, (None, None))
            text = lambda k: "—" if k is None else f"{k / 1024:.2f} MiB ({k} KiB)"  # noqa: E731
            out.append(f"| {POINT_TEXT[point].format(t=t)} | {text(hwm)} | {text(rss)} |")
        out.append("")
    out += notes(heaps)
    out += [
        "",
        "Commands ($TMP: a temporary directory, removed afterwards):",
        "",
        "```",
        *args.command,
    ]
    for m in measured:
        if m.argv:
            out.append(cmd(args, m.argv))
    if measured and measured[0].sim_argv:
        out.append(cmd(args, measured[0].sim_argv) + "   # one per agent, to its tap")
    out.append(f"{shlex.quote(args.ctl)} ctl --control-socket $TMP/<agent>/ctl.sock status "
               "--json")  # fmt: skip
    out += [
        "```",
        "",
        "The call script:",
        "",
        "```",
        call_script(args.seconds).rstrip(),
        "```",
        "",
        f"Host: {platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPU(s); {qemu_version()}.",
    ]
    return "\n".join(out) + "\n"


# tokio's I/O driver keeps a buffer of 1,024 `epoll_event`s (`max_io_events_per_tick`); the
# struct is packed to 12 bytes on x86_64 and 16 bytes on aarch64 and on armv7 (a u64 aligned
# to 8), so every ARM build holds 4 KiB more there than the host.
EPOLL_EXTRA = 1024 * (16 - 12)


def notes(heaps: list[Measured]) -> list[str]:
    """What the figures say, worked out from them."""
    out = []
    host = heaps[0]
    for m in heaps[1:]:
        # Idle after start-up: the same work on every target, no command in flight.
        a, b = heap(host, "idle", "heap_now_bytes"), heap(m, "idle", "heap_now_bytes")
        pa, pb = (heap(host, "recording", "heap_peak_bytes"),
                  heap(m, "recording", "heap_peak_bytes"))  # fmt: skip
        if not (a and b and pa and pb):
            continue
        rest = b - a - EPOLL_EXTRA
        words = ("32-bit words and pointers" if "armv7" in m.variant.name
                 else "everything else")  # fmt: skip
        out.append(f"- {m.variant.name}: {b - a:+,} B ({(b - a) / a:+.1%}) against the host "
                   f"idle: {EPOLL_EXTRA:+,} B for tokio's epoll event buffer (1,024 × "
                   f"`struct epoll_event`, 16 B here, 12 B packed on x86_64), {rest:+,} B "
                   f"{words}. Peak while recording: {pb - pa:+,} B "
                   f"({(pb - pa) / pa:+.1%}).")  # fmt: skip
    out += [
        "- armv7 is 32-bit: pointers, `usize`, and the headers of `Vec`, `String` and `Box` are "
        "half the size of x86_64's (4 bytes, not 8), so the same structures take less; the "
        "fixed buffers sized in bytes (the audio ring, receive slots, reorder storage) do not "
        "change. aarch64 is 64-bit like the host: only the epoll buffer differs.",
        "- The peak is the highest since the process started, and the recording's buffers are "
        "all allocated at start-up, so the peak hardly moves with the call: what a recording "
        "itself holds while it runs is the line ↳, and the rest of the peak's rise while "
        "recording is transient (the call's commands, the file's opening, status answers: "
        "freed again, as the figure after the stop shows). That transient depends on how the "
        "commands happen to overlap, so the peaks vary by a few KiB from run to run; the "
        "figures for \"now\" do not.",
        "- RSS under qemu-user is the emulator's, so only the host's is given; on a phone the "
        "RSS is the static binary's touched pages, this heap, malloc's overhead and the "
        "threads' stacks.",
    ]
    return out


def cmd(args, argv: list[str]) -> str:
    return shlex.join(argv).replace(args.workdir, "$TMP").replace(shlex.quote("$TMP"), "$TMP")


def qemu_version() -> str:
    try:
        r = subprocess.run(["qemu-arm", "--version"], capture_output=True, text=True, timeout=10)
        return r.stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "qemu-arm version unknown"


# --------------------------------------------------------------------------------------------


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--heap", action="append", default=[], metavar="NAME=BINARY[,QEMU]",
                   help="an alloc-count agent, the first is the host")  # fmt: skip
    a.add_argument("--rss-bin", help="the host's release agent (without alloc-count)")
    a.add_argument("--ctl", required=True, help="the host's callrec, for ctl")
    a.add_argument("--sim", required=True)
    a.add_argument("--board", required=True)
    a.add_argument("--seconds", type=float, default=60.0)
    a.add_argument("--workdir")
    a.add_argument("--out", required=True)
    a.add_argument("--note", action="append", default=[], help="a line added to the notes")
    a.add_argument("--command", action="append", default=[], help="shown in the report")
    return a.parse_args()


def main() -> int:
    args = parse_args()
    if args.seconds < 8:
        print("bench-heap: BENCH_SECONDS must be at least 8", file=sys.stderr)
        return 2
    args.workdir = str(Path(args.workdir or tempfile.mkdtemp(prefix="callrec-heap-")).resolve())
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    variants = []
    for spec in args.heap:
        name, rest = spec.split("=", 1)
        binary, *qemu = rest.split(",")
        variants.append(Variant(name, binary, qemu, True))
    if args.rss_bin:
        variants.append(Variant("host release", args.rss_bin, [], False))
    script = workdir / "call.script"
    script.write_text(call_script(args.seconds))
    procs = proc.Processes()
    try:
        measured = [Measured(v) for v in variants]
        print(f"== {args.seconds:g} s call into {len(variants)} agents at once: "
              + ", ".join(v.name for v in variants), flush=True)  # fmt: skip
        threads = [
            threading.Thread(target=measure,
                             args=(procs, args, m.variant, workdir / f"agent{i}", script, m))
            for i, m in enumerate(measured)
        ]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = [m for m in measured if m.error]
        for m in failed:
            print(f"bench-heap: {m.variant.name}: {m.error}", file=sys.stderr)
        if failed:
            return 2
        heaps = [m for m in measured if m.variant.heap]
        missing = [m.variant.name for m in heaps if heap(m, "idle", "heap_peak_bytes") is None]
        if missing:
            print(f"bench-heap: no heap figures from {missing}: not alloc-count builds?",
                  file=sys.stderr)  # fmt: skip
            return 2
        report = markdown(args, measured)
        if args.note:
            report += "\n" + "\n".join(args.note) + "\n"
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report)
        print()
        print(report, end="")
        print(f"\n(written to {args.out})")
        return 0
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
