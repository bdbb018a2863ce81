"""The ARM agent records byte for byte what the host agent records (run by scripts/e2e-arm,
which builds the binaries first).

The same simulated call is played by the host's `callrec-sim` into two agents at once: the host
build (`target/release/callrec`) and the static ARM build under qemu-user. Then the recordings
are compared, header included:

- local mode, PCMA, clean: the Record files on each agent's stick;
- local mode, G.722 with `--loss 0.05 --reorder 0.05 --seed 7`: the same;
- network mode, PCMA: both agents record to one host `callrec-server` (its own temporary
  storage; each agent with its own MAC), and the server's Record files of the two sessions are
  compared, with the sidecars' codec and duration (their ids and times differ).

Where two files differ is told from the host build's `callrec info --json` of each: the header
fields it reads differently, or the frame of the audio and its time.

Each local recording is also exported to a PCM16 WAV (`callrec export`) by the host build and
by the ARM build under qemu: the two WAVs must be identical too (the G.711 and G.722 decoders).
The agents' packet counters (received, lost, reordered, late, …) are printed, and a difference
in them is shown, but only the bytes decide.

Every run uses `--seed`, so both agents get the very same datagrams (SSRC, sequence numbers,
timestamps, loss, reorder). The clean run must also hold exactly the audio the script sends.

Why the call is put on hold around each key press: the simulator's audio and its control
steps are independent threads, and the agent takes every datagram that reached the tap before
a command as being before it (it drains the tap first). A key pressed while audio flows
therefore races the packets: whether the 20 ms frame sent next to the press is recorded
depends on how fast the agent reads the command, which differs between a native and an
emulated agent and with the machine's load (measured: in 1 of 6 runs of a key-press-only call
with loss and reorder, the host agent recorded one frame less than the ARM one). So every
change of recording state here happens while the call is on hold, when no audio flows
(`pause_on_hold` off, so that the hold itself changes nothing): a remote `start` of the held
call, the pause key twice, the record key to stop, each with 200 ms or more of silence on the
wire on both sides. What is recorded then depends only on the datagrams, and any difference is
a real one (byte order, word size, arithmetic). A hold while recording is in the call too: the
time it leaves in the RTP timestamps is written as silence.

The agents place packets by sequence number and timestamp; lost packets become silence, and
swapped packets come back in order within the reorder window (5 packets or 200 ms: a swapped
packet is 20 ms late), so loss and reorder do not depend on arrival times either. `--repeat N`
plays every run N times, to check that this holds.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import arm_agent
import bench_local_proc as proc
from arm_agent import AgentError

# The header as `callrec info --json` reports it (header_data_size: dataSize as written).
INFO_FIELDS = ("codec", "frame_bytes", "increment", "header_data_size", "data_size",
               "stale_header")  # fmt: skip
SIM_TIMEOUT_S = 120.0
SERVER_TIMEOUT_S = 30.0
SEED = 7
# What the clean PCMA run records: 1.3–3.0 s and 5.0–8.0 s of the script (a 0.5 s hold
# inside the second stretch is silence), one byte per 8 kHz tick.
CLEAN_AUDIO_BYTES = round((3.0 - 1.3 + 8.0 - 5.0) * 8000)


def call_script(codec: str) -> str:
    """The call, as a `callrec-sim run` script (see the module doc for why the holds)."""
    return f"""\
0.000 call started id=c1 dir=in remote=1002 remote_name="ARM check" codec={codec}
0.500 call answered id=c1   # 0.5-0.7 s of audio before any recording: not recorded
0.700 call held id=c1
1.000 start id=c1           # the held call: recording (pause_on_hold off), no audio yet
1.300 call resumed id=c1    # recorded from here
3.000 call held id=c1
3.200 key pause             # paused while nothing is sent
3.400 call resumed id=c1    # 3.4-4.6 s sent while paused: not recorded
4.600 call held id=c1
4.800 key pause             # recording again
5.000 call resumed id=c1    # recorded
6.000 call held id=c1       # on hold while recording: 0.5 s of RTP time without packets,
6.500 call resumed id=c1    #   written as silence
8.000 call held id=c1
8.200 key record            # stops the recording
8.400 call resumed id=c1    # not recorded
9.000 call ended id=c1
"""


@dataclass
class Run:
    name: str
    mode: str  # local or network
    codec: str
    impair: list[str] = field(default_factory=list)


RUNS = [
    Run("local", "local", "PCMA"),
    Run("local-lossy", "local", "G722", ["--loss", "0.05", "--reorder", "0.05"]),
    Run("network", "network", "PCMA"),
]


@dataclass
class Result:
    run: str
    repeat: int
    codec: str
    host_bytes: int
    arm_bytes: int
    equal: bool
    problems: list[str]
    # The host agent's recording, to check that a repeated run records the same every time.
    digest: str = ""


class Failure(Exception):
    """The check could not run (a build missing, a process that failed)."""


# --------------------------------------------------------------------------------------------
# Comparing


def record_info(callrec: str, path: Path) -> dict | str:
    """`callrec info FILE --json` by the host build: the file's header as callrec reads it, or
    why it cannot read it."""
    argv = [callrec, "info", str(path), "--json"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(argv)}: no exit in 30 s") from None
    if r.returncode != 0:
        return r.stderr.strip() or f"callrec info exited {r.returncode}"
    return json.loads(r.stdout)


def audio_start(info: dict | str, size: int) -> int | None:
    """Where the audio starts in a file of `size` bytes: a header callrec finds up to date is
    followed by exactly its dataSize bytes. None if it is stale or unreadable."""
    if isinstance(info, dict) and not info["stale_header"]:
        return size - info["header_data_size"]
    return None


def describe_offset(offset: int, start: int | None, info: dict | str) -> str:
    """Where `offset` is in a Record file whose audio starts at `start`: the header, or a frame
    of the audio and its time (frame size and duration from `info`)."""
    if start is None:
        return "header or audio unknown (neither header is up to date)"
    if offset < start:
        return f"in the header (bytes 0-{start - 1})"
    byte = offset - start
    if not isinstance(info, dict) or info["frame_bytes"] <= 0:
        return f"data byte {byte}"
    frame = byte // info["frame_bytes"]
    text = f"data byte {byte}, frame {frame}"
    if info["frames"]:
        text += f" (at {frame * info['duration_ms'] / info['frames']:g} ms of the recording)"
    return text


def header_summary(info: dict | str) -> str:
    if not isinstance(info, dict):
        return f"unreadable ({info})"
    stale = ", stale" if info["stale_header"] else ""
    return (f"codec {info['codec']} frame_bytes {info['frame_bytes']} increment "
            f"{info['increment']} dataSize {info['header_data_size']}{stale}")  # fmt: skip


def header_differences(host: dict | str, arm: dict | str) -> str:
    """The header fields `callrec info` reads differently from the two files."""
    if not isinstance(host, dict) or not isinstance(arm, dict):
        return "header fields: not compared (callrec info cannot read a file)"
    differ = [k for k in INFO_FIELDS if host[k] != arm[k]]
    if not differ:
        return "header fields (callrec info): the same"
    return "header fields that differ (callrec info): " + ", ".join(
        f"{k} host {host[k]!r}, ARM {arm[k]!r}" for k in differ)  # fmt: skip


def compare_files(label: str, host: list[Path], arm: list[Path], callrec: str) -> list[str]:
    """Byte-for-byte comparison of two lists of Record files, in order; what differs (where,
    from the host build's `callrec info` of each file)."""
    problems = []
    if len(host) != len(arm):
        problems.append(f"{label}: {len(host)} file(s) on the host, {len(arm)} on ARM: "
                        f"{[p.name for p in host]} vs {[p.name for p in arm]}")  # fmt: skip
    for i, (h, a) in enumerate(zip(host, arm)):
        hb, ab = h.read_bytes(), a.read_bytes()
        if hb == ab:
            continue
        hi, ai = record_info(callrec, h), record_info(callrec, a)
        start = audio_start(hi, len(hb))
        start = audio_start(ai, len(ab)) if start is None else start
        info = hi if isinstance(hi, dict) else ai
        n = min(len(hb), len(ab))
        differing = [k for k in range(n) if hb[k] != ab[k]]
        first = differing[0] if differing else n
        if first < n:
            what = f"host 0x{hb[first]:02x}, ARM 0x{ab[first]:02x}"
        else:
            what = f"one file ends there: host {len(hb)} bytes, ARM {len(ab)} bytes"
        text = (f"{label} file {i + 1} ({h.name} vs {a.name}): first difference at offset "
                f"{first}, {describe_offset(first, start, info)}: {what}; {len(differing)} "
                f"differing byte(s) in the common {n}")  # fmt: skip
        if start is not None and first < start:
            in_data = next((k for k in differing if k >= start), None)
            if in_data is not None:
                text += (f"; the first in the audio at offset {in_data}, "
                         f"{describe_offset(in_data, start, info)}")  # fmt: skip
        problems.append(f"{text}; {header_differences(hi, ai)}; host header: "
                        f"{header_summary(hi)}; ARM header: {header_summary(ai)}")  # fmt: skip
    return problems


def recorded_audio(callrec: str, files: list[Path]) -> tuple[int, list[str]]:
    """The audio bytes of Record files by `callrec info`, and the files it cannot vouch for
    (unreadable, or a stale header)."""
    audio, bad = 0, []
    for f in files:
        info = record_info(callrec, f)
        if isinstance(info, dict):
            audio += info["data_size"]
        if not isinstance(info, dict) or info["stale_header"]:
            bad.append(f"{f.name}: {header_summary(info)}")
    return audio, bad


def clean_audio_problem(who: str, callrec: str, files: list[Path]) -> str | None:
    """The clean run must record the script's audio in one file with an up-to-date header."""
    audio, bad = recorded_audio(callrec, files)
    if audio == CLEAN_AUDIO_BYTES and len(files) == 1 and not bad:
        return None
    return (f"{who} recorded {audio} audio bytes in {len(files)} file(s), the script sends "
            f"{CLEAN_AUDIO_BYTES} in one" + "".join(f"; {b}" for b in bad))  # fmt: skip


def sizes(files: list[Path]) -> int:
    return sum(p.stat().st_size for p in files)


def digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for p in files:
        h.update(p.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Running


@dataclass
class Binaries:
    host: str
    arm: str
    qemu: str
    sim: str
    server: str
    board: str


def start_sim(procs, bins: Binaries, agent: arm_agent.Agent, run: Run, script: Path, out: Path):
    argv = [
        bins.sim, "run", str(script),
        "--tap", agent.tap, "--control-socket", str(agent.socket),
        "--codec", run.codec, "--sine", "440", "--seed", str(SEED), *run.impair, "--strict",
    ]  # fmt: skip
    with open(out, "wb") as f:
        return procs.start(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)


def wait_sim(p: subprocess.Popen, out: Path, who: str) -> None:
    try:
        rc = p.wait(timeout=SIM_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        p.kill()
        p.wait()
        raise Failure(f"callrec-sim into the {who} agent took over {SIM_TIMEOUT_S:g} s") from e
    if rc != 0:
        raise Failure(f"callrec-sim into the {who} agent exited {rc}:\n{out.read_text()}")


def start_server(procs, bins: Binaries, workdir: Path):
    storage = workdir / "server-storage"
    argv = [bins.server, "--listen", "127.0.0.1:0", "--storage", str(storage)]
    log = workdir / "server.log"
    with open(log, "wb") as err:
        p = procs.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    line = arm_agent.ready_line(procs, p, "callrec-server", log)
    control = arm_agent.ready_fields(line).get("control")
    if control is None:
        raise Failure(f"callrec-server did not start: {line!r}\n{log.read_text()}")
    return p, control, storage


def server_sessions(storage: Path) -> dict[str, tuple[dict, list[Path]]]:
    """Finished sessions by device MAC: (sidecar, Record files in order)."""
    out = {}
    for sidecar in sorted(storage.glob("*/*.json")):
        with contextlib.suppress(json.JSONDecodeError, OSError):
            s = json.loads(sidecar.read_text())
            if s.get("stop_ms") is not None:
                device = s["device"].replace(":", "").lower()
                out[device] = (s, [sidecar.parent / f for f in s["files"]])
    return out


def mac(repeat: int, who: str) -> str:
    """Each agent of each network run its own MAC: the server's sessions are told apart by it."""
    return f"02:00:00:00:{repeat:02x}:{1 if who == 'host' else 2:02x}"


def play(procs, bins: Binaries, run: Run, repeat: int, workdir: Path, server: str | None):
    """One run into both agents at once; per agent: its final status and its stick's files."""
    workdir.mkdir(parents=True)
    script = workdir / "call.script"
    script.write_text(call_script(run.codec))
    settings: dict = {"pause_on_hold": False}
    if run.mode == "network":
        host, port = server.rsplit(":", 1)
        settings |= {"mode": "network", "server_address": host, "server_port": int(port),
                     "codec": run.codec}  # fmt: skip
    agents = {}
    for who, prefix, binary in (("host", [], bins.host), ("arm", [bins.qemu], bins.arm)):
        extra = ("--mac", mac(repeat, who)) if run.mode == "network" else ()
        agents[who] = arm_agent.start_agent(procs, f"{who} agent", prefix, binary, bins.board,
                                            workdir / who, settings, bins.host, extra)  # fmt: skip
    sims = {who: start_sim(procs, bins, a, run, script, workdir / f"sim-{who}.txt")
            for who, a in agents.items()}  # fmt: skip
    for who, p in sims.items():
        wait_sim(p, workdir / f"sim-{who}.txt", who)
    result = {}
    for who, agent in agents.items():
        status = agent.status()
        agent.terminate(procs)
        result[who] = (status, sorted(agent.stick.glob("Record_*")))
    return result


def counters_line(status: dict) -> str:
    c = status.get("counters", {})
    keys = ("received", "audio", "lost", "reordered", "late", "duplicates", "paused_packets",
            "silence_ms")  # fmt: skip
    return (f"state {status.get('state')}, last_stop {status.get('last_stop')}, recorded "
            f"{status.get('recorded_ms')} ms; "
            + ", ".join(f"{k} {c.get(k)}" for k in keys))  # fmt: skip


COUNTED = ("received", "lost", "reordered", "late", "duplicates", "paused_packets")


def counters_note(res) -> str:
    """The agents' packet counters: the same datagrams should be counted the same way."""
    c = {who: status.get("counters", {}) for who, (status, _) in res.items()}
    text = ", ".join(f"{k} {c['host'].get(k)}" for k in COUNTED)
    differ = [k for k in COUNTED if c["host"].get(k) != c["arm"].get(k)]
    if not differ:
        return f"agent counters, both: {text}"
    return (f"agent counters DIFFER in {', '.join(differ)}: host {text}; ARM "
            + ", ".join(f"{k} {c['arm'].get(k)}" for k in COUNTED))


def check_local(bins: Binaries, run: Run, repeat: int, res) -> Result:
    (hs, host), (as_, arm) = res["host"], res["arm"]
    problems = compare_files(run.name, host, arm, bins.host)
    if run.impair == [] and (p := clean_audio_problem("the host agent", bins.host, host)):
        problems.append(f"{run.name}: {p}")
    if not host:
        problems.append(f"{run.name}: nothing recorded")
    if problems:
        problems += [f"  host agent: {counters_line(hs)}", f"  ARM agent:  {counters_line(as_)}"]
    return Result(run.name, repeat, run.codec, sizes(host), sizes(arm), not problems, problems,
                  digest(host))  # fmt: skip


def check_export(bins: Binaries, run: Run, repeat: int, files: list[Path], workdir: Path):
    """`callrec export` of the host agent's recording, by the host build and by the ARM build
    under qemu: the same PCM16 WAV, byte for byte (the G.711 and G.722 decoders on ARM)."""
    out, problems = {}, []
    for who, prefix, binary in (("host", [], bins.host), ("arm", [bins.qemu], bins.arm)):
        wavs = []
        for i, f in enumerate(files):
            wav = workdir / f"export-{who}-{i + 1}.wav"
            argv = [*prefix, binary, "export", str(f), str(wav)]
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                raise Failure(f"{' '.join(argv)}: no exit in 60 s") from None
            if r.returncode != 0:
                problems.append(f"{run.name} export by the {who} build failed: {r.stderr.strip()}")
            elif wav.exists():
                wavs.append(wav)
        out[who] = wavs
    name = f"{run.name} → export WAV"
    for i, (h, a) in enumerate(zip(out["host"], out["arm"])):
        hb, ab = h.read_bytes(), a.read_bytes()
        if hb != ab:
            n = min(len(hb), len(ab))
            first = next((k for k in range(n) if hb[k] != ab[k]), n)
            where = "the RIFF header" if first < 44 else f"PCM sample {(first - 44) // 2}"
            problems.append(f"{name} file {i + 1}: first difference at offset {first} "
                            f"({where}); host {len(hb)} bytes, ARM {len(ab)} bytes")  # fmt: skip
    if len(out["host"]) != len(out["arm"]) or not out["host"]:
        problems.append(f"{name}: {len(out['host'])} WAV(s) by the host build, "
                        f"{len(out['arm'])} by the ARM build")  # fmt: skip
    return Result(name, repeat, f"{run.codec} → PCM16", sizes(out["host"]), sizes(out["arm"]),
                  not problems, problems, digest(out["host"]))  # fmt: skip


def check_network(bins: Binaries, run: Run, repeat: int, res, storage: Path) -> Result:
    want = {who: mac(repeat, who).replace(":", "") for who in ("host", "arm")}

    def finished():
        s = server_sessions(storage)
        return s if all(m in s for m in want.values()) else None

    try:
        sessions = arm_agent.wait_until("the server to close both sessions", SERVER_TIMEOUT_S,
                                        finished)  # fmt: skip
    except AgentError as e:
        seen = {k: v[0].get("stop_ms") for k, v in server_sessions(storage).items()}
        raise Failure(f"{e}; finished sessions by MAC: {seen}") from e
    (hside, host), (aside, arm) = sessions[want["host"]], sessions[want["arm"]]
    problems = compare_files(f"{run.name} (server)", host, arm, bins.host)
    for key in ("codec", "duration_ms"):
        if hside.get(key) != aside.get(key):
            problems.append(f"{run.name}: server sidecar {key}: host session {hside.get(key)!r}, "
                            f"ARM session {aside.get(key)!r}")  # fmt: skip
    if p := clean_audio_problem("the server, from the host agent,", bins.host, host):
        problems.append(f"{run.name}: {p}")
    if problems:
        for who, side in (("host", hside), ("ARM", aside)):
            problems.append(f"  server session of the {who} agent: codec {side.get('codec')}, "
                            f"duration {side.get('duration_ms')} ms, "
                            f"stats {side.get('stats')}")  # fmt: skip
        for who, (status, _) in res.items():
            problems.append(f"  {who} agent: {counters_line(status)}")
    return Result(run.name, repeat, run.codec, sizes(host), sizes(arm), not problems, problems,
                  digest(host))  # fmt: skip


def table(results: list[Result], repeats: int) -> str:
    out = ["| run | codec | host bytes | arm bytes | equal |", "|---|---|---|---|---|"]
    for r in results:
        name = r.run if repeats == 1 else f"{r.run} #{r.repeat + 1}"
        out.append(f"| {name} | {r.codec} | {r.host_bytes} | {r.arm_bytes} | "
                   f"{'yes' if r.equal else '**NO**'} |")  # fmt: skip
    return "\n".join(out)


# --------------------------------------------------------------------------------------------


def parse_args():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--host-bin", required=True)
    a.add_argument("--arm-bin", required=True)
    a.add_argument("--qemu", required=True)
    a.add_argument("--sim", required=True)
    a.add_argument("--server", required=True)
    a.add_argument("--board", required=True)
    a.add_argument("--target", required=True, help="shown in the report")
    a.add_argument("--repeat", type=int, default=1, help="play every run this many times")
    a.add_argument("--runs", default=",".join(r.name for r in RUNS),
                   help="which runs, comma-separated")  # fmt: skip
    a.add_argument("--workdir", help="working directory (made; removed unless --keep)")
    a.add_argument("--keep", action="store_true", help="keep the working directory")
    return a.parse_args()


def main() -> int:
    args = parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _f: sys.exit(128 + n))
    bins = Binaries(args.host_bin, args.arm_bin, args.qemu, args.sim, args.server, args.board)
    wanted = args.runs.split(",")
    unknown = [w for w in wanted if w not in {r.name for r in RUNS}]
    if unknown or args.repeat < 1:
        print(f"e2e-arm: unknown run(s) {unknown} (known: {[r.name for r in RUNS]})"
              if unknown else "e2e-arm: --repeat must be at least 1", file=sys.stderr)  # fmt: skip
        return 2
    runs = [r for r in RUNS if r.name in wanted]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="callrec-e2e-arm-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    procs = proc.Processes()
    results: list[Result] = []
    started = time.monotonic()
    try:
        server, storage = None, None
        if any(r.mode == "network" for r in runs):
            _, server, storage = start_server(procs, bins, workdir)
        for repeat in range(args.repeat):
            for run in runs:
                t0 = time.monotonic()
                label = run.name if args.repeat == 1 else f"{run.name} #{repeat + 1}"
                print(f"== {label}: {run.codec} {' '.join(run.impair)}".rstrip()
                      + f", host agent and {args.target} agent under {Path(bins.qemu).name}",
                      flush=True)  # fmt: skip
                res = play(procs, bins, run, repeat, workdir / f"{run.name}-{repeat}", server)
                if run.mode == "network":
                    checked = [check_network(bins, run, repeat, res, storage)]
                else:
                    checked = [check_local(bins, run, repeat, res)]
                    checked.append(check_export(bins, run, repeat, res["host"][1],
                                                workdir / f"{run.name}-{repeat}"))  # fmt: skip
                results += checked
                for r in checked:
                    for line in r.problems:
                        print(f"   {line}", flush=True)
                    print(f"   {r.run}: {'equal' if r.equal else 'DIFFERENT'} "
                          f"({r.host_bytes} / {r.arm_bytes} bytes)", flush=True)  # fmt: skip
                print(f"   {time.monotonic() - t0:.1f} s; {counters_note(res)}", flush=True)
    except (Failure, AgentError) as e:
        print(f"e2e-arm: {e}", file=sys.stderr)
        return 2
    except Exception:  # a bug or a surprise: the check did not run
        traceback.print_exc()
        return 2
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"e2e-arm: host agent vs {args.target} agent under {Path(bins.qemu).name}, "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    print()
    print(table(results, args.repeat))
    if args.keep:
        print(f"\n(the recordings and logs are kept in {workdir})")
    # Played more than once, a run must record the same bytes every time.
    first = {}
    for r in results:
        first.setdefault(r.run, r.digest)
    unstable = sorted({r.run for r in results if r.digest != first[r.run]})
    if args.repeat > 1:
        print(f"\nthe same bytes at every repeat: "
              + ("yes" if not unstable else f"**NO** for {', '.join(unstable)}"))  # fmt: skip
    if not all(r.equal for r in results) or unstable:
        print("\ne2e-arm: the recordings differ (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
