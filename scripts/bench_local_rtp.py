"""The benchmark's stream and a sender paced by the clock.

The stream is made by the load generator (`callrec-loadgen --write`, tools/): 20 ms G.711 A-law
(PCMA) RTP packets of a speech-like signal, encoded by callrec-core, with seeded numbering, and
the RTCP BYE that ends it; every run gets the same bytes. This module only reads those files and
sends them. The sender paces packets on absolute deadlines (packet i leaves at t0 + i * period),
so a late wake-up never drifts the stream, and sends each packet to every destination in turn
(one stream, many recorders).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


# What the benchmark sends (the load generator's `written` line must agree).
CODEC = "PCMA"
PT_PCMA = 8
RATE_HZ = 8000
PERIOD_S = 0.020
FRAME_BYTES = 160  # 20 ms of 8 kHz A-law, one byte per sample


class StreamError(Exception):
    """The load generator could not write the stream."""


@dataclass(frozen=True)
class Stream:
    """The packets of one stream, the payloads they carry in order, and the RTCP BYE that ends
    it (ffmpeg's SDP input ends its input cleanly on it)."""

    packets: list[bytes]
    payloads: bytes
    bye: bytes

    @property
    def audio_bytes(self) -> int:
        return len(self.payloads)

    def first(self, count: int) -> Stream:
        """The stream's first `count` packets."""
        return Stream(self.packets[:count], self.payloads[: count * FRAME_BYTES], self.bye)


def loadgen_argv(loadgen: str, seconds: float, out: Path) -> list[str]:
    return [loadgen, "--write", str(out), "--seconds", f"{seconds:g}"]


def write_stream(loadgen: str, seconds: float, out: Path) -> Stream:
    """`seconds` of the stream, written by the load generator into `out` and read back."""
    argv = loadgen_argv(loadgen, seconds, out)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise StreamError(f"{' '.join(argv)} failed: {r.stderr.strip()}")
    info = json.loads(r.stdout)
    want = {"codec": CODEC, "payload_type": PT_PCMA, "clock_hz": RATE_HZ,
            "period_ms": round(PERIOD_S * 1000), "frame_bytes": FRAME_BYTES}  # fmt: skip
    if {k: info.get(k) for k in want} != want:
        raise StreamError(f"callrec-loadgen --write made another stream: {info}, want {want}")
    data = (out / "stream.rtp").read_bytes()
    packets, at = [], 0
    while at < len(data):  # each datagram after its 2-byte big-endian length
        n = int.from_bytes(data[at : at + 2], "big")
        packets.append(data[at + 2 : at + 2 + n])
        at += 2 + n
    stream = Stream(packets, (out / "stream.alaw").read_bytes(), (out / "bye.rtcp").read_bytes())
    if len(packets) != info["packets"] or stream.audio_bytes != info["audio_bytes"]:
        raise StreamError(f"{out}: {len(packets)} packets and {stream.audio_bytes} audio bytes, "
                          f"callrec-loadgen says {info}")  # fmt: skip
    return stream


@dataclass
class Pacing:
    """How well the sender kept its deadlines."""

    t0: float = 0.0
    max_late_s: float = 0.0
    late_over_5ms: int = 0


def send_paced(
    packets: list[bytes],
    destinations: list[tuple[str, int]],
    start_at: float,
    checkpoints: dict[int, Callable[[], None]],
) -> Pacing:
    """Sends packet i at `start_at + i * PERIOD_S` (time.monotonic) to every destination,
    alternating which goes first. `checkpoints[i]` runs at deadline i before packet i is sent;
    index len(packets) is the stream's end, one period after the last packet."""
    pacing = Pacing(t0=start_at)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for i in range(len(packets) + 1):
            deadline = start_at + i * PERIOD_S
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(left)
            late = time.monotonic() - deadline
            pacing.max_late_s = max(pacing.max_late_s, late)
            pacing.late_over_5ms += late > 0.005
            if i in checkpoints:
                checkpoints[i]()
            if i < len(packets):
                order = destinations if i % 2 == 0 else destinations[::-1]
                for dest in order:
                    sock.sendto(packets[i], dest)
    return pacing


def send_once(data: bytes, destination: tuple[str, int]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(data, destination)
