"""The benchmark's stream: 20 ms G.711 A-law (PCMA) RTP packets and a sender paced by the clock.

Everything here is deterministic: the signal is a fixed mix of tones under a speech-like envelope,
and the sequence number and timestamp bases come from a seeded generator. The sender paces packets
on absolute deadlines (packet i leaves at t0 + i * period), so a late wake-up never drifts the
stream, and sends each packet to every destination in turn (one stream, many recorders).
"""

from __future__ import annotations

import math
import random
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable

RATE_HZ = 8000
PERIOD_S = 0.020
FRAME_BYTES = 160  # 20 ms of 8 kHz A-law, one byte per sample
PT_PCMA = 8
SSRC = 0x5EED_BE4C
SEED = 20240611

# Upper ends of the A-law segments of a 13-bit magnitude (ITU-T G.711).
_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def alaw_byte(sample: int) -> int:
    """One signed 16-bit sample as a G.711 A-law byte (Sun's reference linear2alaw, which
    truncates; ffmpeg rounds to the nearest step, so a few samples differ by one step)."""
    pcm = sample >> 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    for seg, end in enumerate(_SEG_END):
        if pcm <= end:
            shift = 1 if seg < 2 else seg
            return ((seg << 4) | ((pcm >> shift) & 0x0F)) ^ mask
    return 0x7F ^ mask


def _alaw_table() -> bytes:
    """A-law bytes for every 16-bit sample, indexed by the sample's unsigned 16-bit value."""
    return bytes(alaw_byte(v - 0x10000 if v >= 0x8000 else v) for v in range(0x10000))


def speechlike(samples: int) -> list[int]:
    """A real-ish signal: 220/440/1000 Hz under a 3 Hz syllable envelope, with short pauses and
    a little seeded noise, so the payload is not one repeating byte pattern."""
    rng = random.Random(SEED)
    out = []
    for n in range(samples):
        t = n / RATE_HZ
        envelope = max(0.0, math.sin(2 * math.pi * 3 * t)) * (0.2 if int(t) % 4 == 3 else 1.0)
        tone = (
            0.5 * math.sin(2 * math.pi * 220 * t)
            + 0.3 * math.sin(2 * math.pi * 440 * t)
            + 0.2 * math.sin(2 * math.pi * 1000 * t)
        )
        value = 12000 * envelope * tone + rng.gauss(0, 60)
        out.append(max(-32768, min(32767, int(value))))
    return out


@dataclass(frozen=True)
class Stream:
    """The packets of one stream, and the payloads they carry in order."""

    packets: list[bytes]
    payloads: bytes

    @property
    def audio_bytes(self) -> int:
        return len(self.payloads)


def build_stream(count: int) -> Stream:
    """`count` PCMA packets of 20 ms: 12-byte RTP header (marker on the first) + 160 bytes."""
    table = _alaw_table()
    pcm = speechlike(count * FRAME_BYTES)
    payloads = bytes(table[s & 0xFFFF] for s in pcm)
    rng = random.Random(SEED)
    seq0 = rng.randrange(0x10000)
    ts0 = rng.randrange(0x1_0000_0000)
    packets = []
    for i in range(count):
        marker = 0x80 if i == 0 else 0
        header = struct.pack(
            "!BBHII",
            0x80,
            marker | PT_PCMA,
            (seq0 + i) & 0xFFFF,
            (ts0 + i * FRAME_BYTES) & 0xFFFF_FFFF,
            SSRC,
        )
        packets.append(header + payloads[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])
    return Stream(packets, payloads)


def rtcp_bye() -> bytes:
    """A compound RTCP packet, an empty receiver report then BYE (RFC 3550 6.6): how an RTP
    stream says it has ended. ffmpeg's SDP input ends its input cleanly on it."""
    rr = struct.pack("!BBHI", 0x80, 201, 1, SSRC)
    bye = struct.pack("!BBHI", 0x81, 203, 1, SSRC)
    return rr + bye


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
