"""What the benchmark reads about a process, from /proc/PID.

- Peak RSS: `VmHWM` in /proc/PID/status (the high-water mark of the resident set, KiB).
- CPU time: utime + stime in /proc/PID/stat (fields 14 and 15, clock ticks, all threads, dead
  ones included), in seconds. The resolution is one tick (1/SC_CLK_TCK s, usually 10 ms).
- On-CPU time: the sum of the first field of /proc/PID/task/*/schedstat (ns, live threads):
  finer than the ticks, for the per-packet figure.
- Writes: `syscw` (write-family system calls: write, pwrite, writev...) and `wchar` (bytes
  passed to them) in /proc/PID/io. Both count every descriptor: files, pipes, stderr, sockets
  written with write(); send/sendto/sendmsg are not counted.
- eventfd wake-ups: the sum of `eventfd-count` over the process's eventfds (/proc/PID/fdinfo).
  An async runtime wakes its own poller by writing 8 bytes to an eventfd (tokio through mio);
  those writes are in syscw and wchar too. mio never reads its eventfd back (it only resets the
  counter near overflow), so the counter is the number of such writes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One reading of a process's counters at monotonic time `t`."""

    t: float
    cpu_s: float
    peak_rss_kib: int | None
    oncpu_ns: int
    syscw: int
    wchar: int
    eventfd_writes: int


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def oncpu_ns(pid: int) -> int:
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            continue  # the thread ended meanwhile
    return total


def status_kib(pid: int, *keys: str) -> dict[str, int]:
    """The named memory fields of /proc/PID/status (VmHWM, VmRSS, ...) in KiB; a field is
    missing once the process has exited (a zombie has no memory map)."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in keys:
                values[key] = int(line.split()[1])
    return values


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM in KiB; None once the process has exited."""
    return status_kib(pid, "VmHWM").get("VmHWM")


def io_counters(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io", encoding="ascii") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f if ":" in line)}


def eventfd_count(pid: int) -> int:
    total = 0
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:[eventfd]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as f:
                for line in f:
                    if line.startswith("eventfd-count:"):
                        total += int(line.split()[1], 16)
        except FileNotFoundError:
            continue  # closed meanwhile
    return total


def sample(pid: int) -> Sample:
    t = time.monotonic()
    io = io_counters(pid)
    return Sample(
        t,
        cpu_seconds(pid),
        peak_rss_kib(pid),
        oncpu_ns(pid),
        io["syscw"],
        io["wchar"],
        eventfd_count(pid),
    )


def wait_exited_unreaped(pid: int, timeout_s: float) -> bool:
    """Waits for the child `pid` to exit without reaping it (WNOWAIT), so its /proc entry (now
    a zombie) can still be read: /proc/PID/io then holds the writes of its last moments too.
    Returns False if it is still running after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
            return True
        time.sleep(0.01)
    return False


# --------------------------------------------------------------------------------------------
# Child processes (of scripts/e2e_arm.py; the Rust tools have tools/src/process.rs)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the bench process dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Processes:
    """Every process a bench starts, stopped on exit whatever happens.

    `grace`: seconds a process gets after SIGTERM at `stop_all` before SIGKILL (0: SIGKILL at once).
    """

    def __init__(self, grace: float = 5.0) -> None:
        self.running: list[subprocess.Popen] = []
        self.grace = grace

    def start(self, argv: list[str], **kwargs) -> subprocess.Popen:
        p = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kwargs)
        self.running.append(p)
        return p

    def stop(self, p: subprocess.Popen, timeout: float = 60) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with contextlib.suppress(ValueError):
            self.running.remove(p)
        return p.returncode

    def stop_all(self) -> None:
        for p in reversed(self.running):
            if p.poll() is None:
                if self.grace > 0:
                    p.terminate()
                    try:
                        p.wait(timeout=self.grace)
                        continue
                    except subprocess.TimeoutExpired:
                        pass
                p.kill()
                p.wait()
        self.running.clear()
