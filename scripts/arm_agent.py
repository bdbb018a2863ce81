"""A callrec agent on loopback, run natively or under qemu-user (used by scripts/e2e_arm.py; the
Rust tools have tools/src/agent.rs).

The agent is started with every address it binds given (port 0) and its own stick directory,
control socket and settings file, so nothing of the host's /tmp/callrec is used and several
agents run side by side. Readiness is the agent's ready line (`callrec agent ready tap=…
control=… http=…`), read with a deadline: never a sleep. A static ARM binary runs as
`qemu-arm BINARY …` (binfmt_misc may be absent); qemu passes SIGTERM on to it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bench_local_proc as proc

# qemu starts a static binary in well under a second; this bounds a machine under load.
READY_TIMEOUT_S = 60.0
CTL_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

QEMU = {
    "armv7-unknown-linux-gnueabihf": "qemu-arm",
    "aarch64-unknown-linux-gnu": "qemu-aarch64",
}


class AgentError(Exception):
    """An agent did not start, answer or stop as it should."""


@dataclass
class Agent:
    name: str
    process: subprocess.Popen
    argv: list[str]
    tap: str
    socket: Path
    stick: Path
    log: Path
    ctl_bin: str

    def ctl(self, *command: str) -> dict:
        """`callrec ctl … --json` by the host's callrec (the same protocol): the reply."""
        argv = [self.ctl_bin, "ctl", "--control-socket", str(self.socket), *command, "--json"]
        try:
            r = subprocess.run(argv, capture_output=True, timeout=CTL_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise AgentError(f"{self.name}: ctl {' '.join(command)}: no answer in "
                             f"{CTL_TIMEOUT_S:g} s\n{self.log_tail()}") from e  # fmt: skip
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError as e:
            raise AgentError(f"{self.name}: ctl {' '.join(command)}: {r.stdout!r} "
                             f"{r.stderr!r}\n{self.log_tail()}") from e  # fmt: skip

    def status(self) -> dict:
        reply = self.ctl("status")
        if not reply.get("ok"):
            raise AgentError(f"{self.name}: status refused: {reply}")
        return reply["status"]

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(f"  | {line}" for line in text.splitlines()[-lines:])

    def terminate(self, procs: proc.Processes) -> None:
        """SIGTERM and a clean exit (status 0) within STOP_TIMEOUT_S."""
        self.process.send_signal(signal.SIGTERM)
        try:
            rc = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            procs.stop(self.process, timeout=0)
            raise AgentError(f"{self.name}: still running {STOP_TIMEOUT_S:g} s after SIGTERM\n"
                             f"{self.log_tail()}") from e  # fmt: skip
        procs.stop(self.process)
        if rc != 0:
            raise AgentError(f"{self.name}: exited {rc} on SIGTERM\n{self.log_tail()}")


def start_agent(
    procs: proc.Processes,
    name: str,
    prefix: list[str],
    binary: str,
    board: str,
    workdir: Path,
    settings: dict,
    ctl_bin: str,
    extra: tuple[str, ...] = (),
    env: dict | None = None,
) -> Agent:
    """Starts `prefix + [binary, "agent", …]` in `workdir` (made if absent) and waits for its
    ready line. `prefix` is `[]` natively or `["qemu-arm"]`; `extra` are more agent options."""
    workdir.mkdir(parents=True, exist_ok=True)
    stick = workdir / "stick"
    stick.mkdir(exist_ok=True)
    (workdir / "settings.json").write_text(json.dumps(settings))
    socket = workdir / "ctl.sock"
    argv = [
        *prefix, binary, "agent", "--board", board,
        "--tap", "127.0.0.1:0", "--http", "127.0.0.1:0",
        "--control-socket", str(socket),
        "--usb-dir", str(stick),
        "--settings", str(workdir / "settings.json"),
        *extra,
    ]  # fmt: skip
    log = workdir / "agent.log"
    with open(log, "wb") as err:
        p = procs.start(
            argv,
            env=dict(os.environ, CALLREC_LOG="info", **(env or {})),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    line = ready_line(procs, p, name, log)
    field = ready_fields(line)
    if "tap" not in field or "control" not in field:
        raise AgentError(f"{name}: unexpected ready line {line!r}")
    return Agent(name, p, argv, field["tap"], socket, stick, log, ctl_bin)


def ready_line(procs: proc.Processes, p: subprocess.Popen, name: str, log: Path) -> str:
    """The first line `p` prints on its stdout (a pipe), within READY_TIMEOUT_S; the rest of
    its output is read and dropped from then on, so it never blocks on a full pipe."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([p.stdout], [], [], max(0.0, left))
        if not ready:
            procs.stop(p, timeout=0)
            raise AgentError(f"{name}: no ready line in {READY_TIMEOUT_S:g} s: {line!r}\n"
                             f"{log.read_text(errors='replace')}")  # fmt: skip
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            p.wait()
            raise AgentError(f"{name}: exited {p.returncode} before its ready line\n"
                             f"{log.read_text(errors='replace')}")  # fmt: skip
        line += chunk
    threading.Thread(target=_drain, args=(p.stdout,), daemon=True).start()
    return line.decode(errors="replace")


def ready_fields(line: str) -> dict[str, str]:
    """`callrec agent ready tap=A control=B http=C` as {"tap": "A", …}."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def _drain(pipe) -> None:
    while pipe.read(4096):
        pass


def wait_until(what: str, timeout_s: float, poll, interval_s: float = 0.05):
    """Polls `poll()` until it returns something truthy (returned); AgentError after timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = poll()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AgentError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)
