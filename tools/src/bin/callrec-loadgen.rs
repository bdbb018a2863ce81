//! Load generator for `callrec-server` (driven by `scripts/bench-server`; never a test), and the
//! writer of `scripts/bench-local`'s stream.
//!
//! Server mode opens N recording sessions the way a phone does (one TCP control connection each,
//! `RecordStartRequest` with a unique id and a MAC), ramped at a fixed rate, then sends every
//! session 20 ms PCMA RTP (172-byte packets, one SSRC per session, correct sequence numbers and
//! timestamps) to the port its answer gave, for D seconds, then stops every session. Raw mode
//! sends the same streams to plain UDP ports (ffmpeg reading an SDP), with no control protocol.
//!
//! The server accepts RTP only from the TCP peer's IP and holds at most 64 control connections
//! per address, so sessions are spread over loopback addresses (`--per-ip` each, from
//! `--ip-base` up: 127.0.1.1, 127.0.1.2, …): each address has its own TCP connections and one
//! UDP socket that sends its sessions' RTP.
//!
//! Sending: `--threads` threads (one per CPU by default), each with the source sockets of its
//! share of the addresses; on loopback the sending thread also runs the kernel's receive path,
//! so one thread cannot feed thousands of sessions on its own.
//!
//! Pacing: each 20 ms tick is cut into `--slots` slots; a session always sends in the same slot,
//! so the packets of a tick are spread over the period as independent phones' would be. Each
//! slot starts on an absolute CLOCK_MONOTONIC deadline (a late slot never drifts the stream) and
//! sends its packets with `sendmmsg`, one call per source socket. How late each slot started and
//! finished is measured and reported, so a late sender is not mistaken for a server loss.
//!
//! Output: one JSON object per line on stdout, as things happen: `started` (sessions started,
//! refused and why, start latency), `send_start` (at the first deadline), `send_end` (one period
//! after the last tick, with the sender's lateness and CPU time), `summary` (after the stops).
//! `--sessions-out FILE` writes every stream (id, port, packets sent, send errors) as JSON.
//!
//! Write mode sends nothing: it writes the one stream `scripts/bench-local` paces to the agent
//! and to ffmpeg, as files (see `write_stream`): 20 ms PCMA RTP of a speech-like signal, encoded
//! by callrec-core's A-law encoder, and the RTCP BYE that ends it.

use callrec_core::audio::g711::linear_to_alaw;
use callrec_core::codec::Codec;
use callrec_core::line::split_line;
use callrec_core::rtp::RtpPacket;
use serde_json::json;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const USAGE: &str = "\
loadgen: RTP load for callrec-server (scripts/bench-server), and scripts/bench-local's stream

usage:
  loadgen --server ADDR:PORT --sessions N --seconds D [--rate 200] [--concurrency 32]
          [--per-ip 50] [--ip-base 127.0.1.0] [--slots 10] [--threads T]
          [--sessions-out FILE]
  loadgen --raw ADDR:BASEPORT --count M --seconds D [--step 2] [--bye] [--slots 10]
          [--sessions-out FILE]
  loadgen --write DIR --seconds D

--server: open N sessions over the record protocol (--rate starts per second, at most
  --concurrency control exchanges at once), send RTP for D seconds, stop them. --threads:
  sender threads, each with its own source addresses (default: one per CPU).
--raw: send M streams to ADDR:BASEPORT + k*STEP (k = 0..M) from 127.0.0.1; --bye ends each
  with an RTCP BYE to the port above it (ffmpeg's SDP input ends on it), 1 s after send_end.
--write: send nothing; write scripts/bench-local's stream of D seconds into DIR (made if
  absent): stream.rtp (each RTP packet as a 2-byte big-endian length and the datagram),
  stream.alaw (the payloads in order: what a recording of it holds) and bye.rtcp (the RTCP
  BYE that ends it); then print one JSON line, `written`.";

/// 20 ms of 8 kHz G.711.
const PERIOD_NS: u64 = 20_000_000;
const FRAME: usize = 160;
const PACKET: usize = 12 + FRAME;
const PT_PCMA: u8 = 8;
/// Most messages one `sendmmsg` takes (UIO_MAXIOV).
const MAX_BATCH: usize = 1024;
/// Send buffer of each source socket: a whole tick of its sessions' packets, many times over.
const SEND_BUFFER: usize = 4 * 1024 * 1024;
/// A control exchange (connect, request, answer) that takes longer than this failed.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after `send_end` the RTCP BYEs go out (raw mode).
const BYE_DELAY_NS: u64 = 1_000_000_000;
/// The longest control answer read.
const MAX_LINE: usize = 4096;

#[derive(Debug)]
enum Mode {
    Server {
        addr: SocketAddr,
        sessions: usize,
        rate: f64,
        concurrency: usize,
        per_ip: usize,
        ip_base: Ipv4Addr,
    },
    Raw {
        dest: SocketAddrV4,
        count: usize,
        step: u16,
        bye: bool,
    },
    Write {
        dir: PathBuf,
    },
}

#[derive(Debug)]
struct Options {
    mode: Mode,
    seconds: f64,
    slots: usize,
    /// Sender threads (server mode).
    threads: usize,
    sessions_out: Option<PathBuf>,
}

fn parse_args() -> Result<Options, String> {
    use lexopt::Arg;
    let mut p = lexopt::Parser::from_env();
    let mut server = None;
    let mut raw = None;
    let mut write = None;
    let mut sessions = None;
    let mut count = None;
    let mut seconds = None;
    let (mut rate, mut concurrency, mut per_ip, mut slots, mut step) =
        (200.0_f64, 32_usize, 50_usize, 10_usize, 2_u16);
    let mut ip_base = Ipv4Addr::new(127, 0, 1, 0);
    let mut bye = false;
    let mut sessions_out = None;
    let mut threads = std::thread::available_parallelism().map_or(1, usize::from);
    fn value<T: std::str::FromStr>(p: &mut lexopt::Parser, name: &str) -> Result<T, String> {
        let v = p.value().map_err(|e| e.to_string())?;
        v.to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad --{name} {v:?}"))
    }
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("server") => server = Some(value::<SocketAddr>(&mut p, "server")?),
            Arg::Long("raw") => raw = Some(value::<SocketAddrV4>(&mut p, "raw")?),
            Arg::Long("write") => write = Some(value::<PathBuf>(&mut p, "write")?),
            Arg::Long("sessions") => sessions = Some(value::<usize>(&mut p, "sessions")?),
            Arg::Long("count") => count = Some(value::<usize>(&mut p, "count")?),
            Arg::Long("seconds") => seconds = Some(value::<f64>(&mut p, "seconds")?),
            Arg::Long("rate") => rate = value(&mut p, "rate")?,
            Arg::Long("concurrency") => concurrency = value(&mut p, "concurrency")?,
            Arg::Long("per-ip") => per_ip = value(&mut p, "per-ip")?,
            Arg::Long("ip-base") => ip_base = value(&mut p, "ip-base")?,
            Arg::Long("slots") => slots = value(&mut p, "slots")?,
            Arg::Long("step") => step = value(&mut p, "step")?,
            Arg::Long("threads") => threads = value(&mut p, "threads")?,
            Arg::Long("bye") => bye = true,
            Arg::Long("sessions-out") => sessions_out = Some(value::<PathBuf>(&mut p, "out")?),
            Arg::Long("help") | Arg::Short('h') => return Err(String::new()),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let seconds = seconds.ok_or("--seconds is required")?;
    if !(0.0..=86_400.0).contains(&seconds) {
        return Err("--seconds must be 0 to 86400".into());
    }
    if rate.is_nan()
        || rate <= 0.0
        || [concurrency, per_ip, slots, usize::from(step), threads].contains(&0)
    {
        return Err(
            "--rate, --concurrency, --per-ip, --slots, --step and --threads must be above 0".into(),
        );
    }
    let mode = match (server, raw, write) {
        (Some(addr), None, None) => Mode::Server {
            addr,
            sessions: sessions.ok_or("--sessions is required with --server")?,
            rate,
            concurrency,
            per_ip,
            ip_base,
        },
        (None, Some(dest), None) => Mode::Raw {
            dest,
            count: count.ok_or("--count is required with --raw")?,
            step,
            bye,
        },
        (None, None, Some(dir)) => Mode::Write { dir },
        _ => return Err("give one of --server, --raw and --write".into()),
    };
    Ok(Options {
        mode,
        seconds,
        slots: slots.min(PERIOD_NS as usize / 1_000_000),
        threads,
        sessions_out,
    })
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-loadgen", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "{}{USAGE}",
                if e.is_empty() {
                    e
                } else {
                    format!("loadgen: {e}\n\n")
                }
            );
            return ExitCode::from(2);
        }
    };
    let nofile = raise_nofile();
    match run(&opts, nofile) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

/// Raises the soft limit of open files to the hard one; returns the limit in force.
fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < r.rlim_max {
            let want = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                r.rlim_cur = r.rlim_max;
            }
        }
        r.rlim_cur as u64
    }
}

fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the driver gave up) must not stop the stops that follow.
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// One RTP stream the sender paces.
struct Stream {
    /// The session id (server mode).
    id: Option<String>,
    /// Index of the source socket.
    source: usize,
    dest: SocketAddrV4,
    ssrc: u32,
    seq0: u16,
    ts0: u32,
    sent: u64,
    errors: u64,
}

fn run(opts: &Options, nofile: u64) -> Result<(), String> {
    let ticks = (opts.seconds * 1e9 / PERIOD_NS as f64).round() as u64;
    match opts.mode {
        Mode::Server {
            addr,
            sessions,
            rate,
            concurrency,
            per_ip,
            ip_base,
        } => {
            let ips = loopback_ips(ip_base, sessions.div_ceil(per_ip));
            let need = sessions as u64 + ips.len() as u64 + 16;
            if nofile < need {
                return Err(format!(
                    "{sessions} sessions need {need} open files; the limit is {nofile} (ulimit -n)"
                ));
            }
            let (live, refused) = start_sessions(addr, sessions, rate, concurrency, per_ip, &ips);
            let sources = bind_sources(&ips)?;
            let (mut streams, mut controls): (Vec<Stream>, Vec<TcpStream>) =
                live.into_iter().unzip();
            let pacing = send(&sources, &mut streams, ticks, opts.slots, opts.threads);
            let stop = stop_sessions(&streams, &mut controls, concurrency);
            write_sessions(opts, streams.iter())?;
            emit(json!({
                "event": "summary",
                "mode": "server",
                "sessions_requested": sessions,
                "sessions_started": streams.len(),
                "sessions_refused": refused,
                "packets_per_session": ticks,
                "packets_sent": streams.iter().map(|s| s.sent).sum::<u64>(),
                "send_errors": streams.iter().map(|s| s.errors).sum::<u64>(),
                "sources": ips.len(),
                "stop": stop,
                "pacing": pacing,
            }));
        }
        Mode::Raw {
            dest,
            count,
            step,
            bye,
        } => {
            let sources = bind_sources(&[Ipv4Addr::LOCALHOST])?;
            let mut streams: Vec<Stream> = (0..count)
                .map(|k| {
                    let port = usize::from(dest.port()) + k * usize::from(step);
                    let port = u16::try_from(port).map_err(|_| "--raw ports past 65535")?;
                    Ok(stream_for(None, k, SocketAddrV4::new(*dest.ip(), port)))
                })
                .collect::<Result<_, String>>()?;
            emit(json!({"event": "started", "mode": "raw", "streams": count}));
            let pacing = send(&sources, &mut streams, ticks, opts.slots, 1);
            if bye {
                // A moment for the driver to read the receivers at `send_end` before they end.
                sleep_until(mono_ns() + BYE_DELAY_NS);
                for s in &streams {
                    let to = SocketAddrV4::new(*s.dest.ip(), s.dest.port() + 1);
                    if let Err(e) = sources[0].send_to(&rtcp_bye(s.ssrc), to) {
                        eprintln!("loadgen: BYE to {to}: {e}");
                    }
                }
            }
            write_sessions(opts, streams.iter())?;
            emit(json!({
                "event": "summary",
                "mode": "raw",
                "streams": count,
                "packets_per_session": ticks,
                "packets_sent": streams.iter().map(|s| s.sent).sum::<u64>(),
                "send_errors": streams.iter().map(|s| s.errors).sum::<u64>(),
                "pacing": pacing,
            }));
        }
        Mode::Write { ref dir } => write_stream(dir, ticks)?,
    }
    Ok(())
}

/// `n` loopback addresses from `base` up, skipping host parts 0 and 255.
fn loopback_ips(base: Ipv4Addr, n: usize) -> Vec<Ipv4Addr> {
    let mut out = Vec::with_capacity(n);
    let mut a = u32::from(base);
    while out.len() < n {
        a += 1;
        let ip = Ipv4Addr::from(a);
        if ip.octets()[0] != 127 {
            break; // Out of 127.0.0.0/8: the caller sees fewer addresses than sessions need.
        }
        if !matches!(ip.octets()[3], 0 | 255) {
            out.push(ip);
        }
    }
    out
}

/// A stream with seeded numbering: SSRC, first sequence number and timestamp from its index.
fn stream_for(id: Option<String>, index: usize, dest: SocketAddrV4) -> Stream {
    let mut x = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    Stream {
        id,
        source: 0,
        dest,
        ssrc: x as u32 | 1,
        seq0: (x >> 32) as u16,
        ts0: (x >> 16) as u32,
        sent: 0,
        errors: 0,
    }
}

fn write_sessions<'a>(
    opts: &Options,
    streams: impl Iterator<Item = &'a Stream>,
) -> Result<(), String> {
    let Some(path) = &opts.sessions_out else {
        return Ok(());
    };
    let list: Vec<_> = streams
        .map(|s| {
            json!({
                "id": s.id,
                "source": s.source,
                "port": s.dest.port(),
                "ssrc": s.ssrc,
                "sent": s.sent,
                "errors": s.errors,
            })
        })
        .collect();
    std::fs::write(path, serde_json::Value::Array(list).to_string())
        .map_err(|e| format!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------------------
// Write mode: scripts/bench-local's stream as files

/// The sample rate of G.711, and its RTP clock.
const RATE_HZ: f64 = 8000.0;
/// Seeds the signal's noise: every run writes the same bytes.
const NOISE_SEED: u64 = 20_240_611;

/// Writes `ticks` 20 ms PCMA packets of `speechlike` audio into `dir` (see USAGE): one SSRC,
/// the marker on the first packet, the numbering of stream 0.
fn write_stream(dir: &Path, ticks: u64) -> Result<(), String> {
    let io_err = |path: &Path, e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let create = |name: &str| -> Result<(PathBuf, BufWriter<File>), String> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|e| io_err(&path, e))?;
        Ok((path, BufWriter::new(file)))
    };
    let (rtp_path, mut rtp) = create("stream.rtp")?;
    let (audio_path, mut audio) = create("stream.alaw")?;
    // Written, never sent: the address is not used.
    let s = stream_for(None, 0, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let pt = Codec::Pcma.payload_type();
    let mut noise = Noise(NOISE_SEED);
    let mut payload = [0u8; FRAME];
    let mut packet = [0u8; PACKET];
    for tick in 0..ticks {
        for (k, b) in payload.iter_mut().enumerate() {
            *b = linear_to_alaw(speechlike(tick * FRAME as u64 + k as u64, &mut noise));
        }
        let seq = s.seq0.wrapping_add(tick as u16);
        let ts = s.ts0.wrapping_add((tick as u32).wrapping_mul(FRAME as u32));
        let len = RtpPacket::emit(&mut packet, tick == 0, pt, seq, ts, s.ssrc, &payload)
            .expect("PACKET holds the header and one frame");
        rtp.write_all(&(len as u16).to_be_bytes())
            .and_then(|()| rtp.write_all(&packet[..len]))
            .map_err(|e| io_err(&rtp_path, e))?;
        audio
            .write_all(&payload)
            .map_err(|e| io_err(&audio_path, e))?;
    }
    rtp.flush().map_err(|e| io_err(&rtp_path, e))?;
    audio.flush().map_err(|e| io_err(&audio_path, e))?;
    let bye_path = dir.join("bye.rtcp");
    std::fs::write(&bye_path, rtcp_bye(s.ssrc)).map_err(|e| io_err(&bye_path, e))?;
    emit(json!({
        "event": "written",
        "dir": dir.display().to_string(),
        "packets": ticks,
        "period_ms": PERIOD_NS / 1_000_000,
        "frame_bytes": FRAME,
        "audio_bytes": ticks * FRAME as u64,
        "codec": Codec::Pcma.name(),
        "payload_type": pt,
        "clock_hz": RATE_HZ as u32,
        "ssrc": s.ssrc,
    }));
    Ok(())
}

/// Sample `n` of a speech-like 8 kHz signal: 220, 440 and 1000 Hz under a 3 Hz syllable
/// envelope, quieter one second in four, with a little noise (σ 60), so the payload is not one
/// repeating byte pattern.
fn speechlike(n: u64, noise: &mut Noise) -> i16 {
    use std::f64::consts::TAU;
    let t = n as f64 / RATE_HZ;
    let quiet = if (t as u64) % 4 == 3 { 0.2 } else { 1.0 };
    let envelope = (TAU * 3.0 * t).sin().max(0.0) * quiet;
    let tone = 0.5 * (TAU * 220.0 * t).sin()
        + 0.3 * (TAU * 440.0 * t).sin()
        + 0.2 * (TAU * 1000.0 * t).sin();
    // `as` saturates and truncates toward zero.
    (12_000.0 * envelope * tone + 60.0 * noise.gauss()) as i16
}

/// Seeded noise (xorshift64*, Box-Muller); the seed must not be 0.
struct Noise(u64);

impl Noise {
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal.
    fn gauss(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

// ------------------------------------------------------------------------------------------
// Control: starting and stopping sessions

/// A started session: its stream and its open control connection.
type Started = (Stream, TcpStream);
/// What became of one start: the session and its round trip in ns, or why not (None: not yet).
type StartOutcome = Option<Result<(Started, u64), String>>;

/// Starts `n` sessions, at most `rate` per second and `concurrency` at once. Returns the
/// sessions started (in order) and how many were refused (the reasons are in `started`).
fn start_sessions(
    server: SocketAddr,
    n: usize,
    rate: f64,
    concurrency: usize,
    per_ip: usize,
    ips: &[Ipv4Addr],
) -> (Vec<Started>, usize) {
    let run = std::process::id();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<StartOutcome>> = Mutex::new((0..n).map(|_| None).collect());
    let begin = mono_ns();
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(n) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                sleep_until(begin + (i as f64 / rate * 1e9) as u64);
                let t = mono_ns();
                let r = match ips.get(i / per_ip) {
                    Some(&ip) => {
                        start_one(server, ip, i / per_ip, run, i).map(|s| (s, mono_ns() - t))
                    }
                    None => Err("no loopback address left for this session".into()),
                };
                // A poisoned lock means another worker panicked: a bug, reported by scope.
                results.lock().expect("a worker panicked")[i] = Some(r);
            });
        }
    });
    let elapsed_s = (mono_ns() - begin) as f64 / 1e9;
    let mut live = Vec::new();
    let mut refused = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut latencies = Vec::new();
    let results = results.into_inner().expect("a worker panicked");
    for r in results.into_iter().flatten() {
        match r {
            Ok((s, ns)) => {
                latencies.push(ns);
                live.push(s);
            }
            Err(e) => {
                *reasons.entry(e).or_default() += 1;
                refused += 1;
            }
        }
    }
    latencies.sort_unstable();
    emit(json!({
        "event": "started",
        "mode": "server",
        "sessions_requested": n,
        "sessions_started": live.len(),
        "sessions_refused": refused,
        "refused_reasons": reasons,
        "sources": ips.len(),
        "start_seconds": elapsed_s,
        "start_rate_per_s": live.len() as f64 / elapsed_s.max(1e-9),
        "start_latency_ms": percentiles_ms(&latencies),
    }));
    (live, refused)
}

/// Session `i`: connect from `ip` (source socket `source`), ask, read the answer.
fn start_one(
    server: SocketAddr,
    ip: Ipv4Addr,
    source: usize,
    run: u32,
    i: usize,
) -> Result<Started, String> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| format!("socket: {e}"))?;
    socket
        .bind(&SocketAddr::from((ip, 0)).into())
        .map_err(|e| format!("bind {ip}: {e}"))?;
    socket
        .connect_timeout(&server.into(), CONTROL_TIMEOUT)
        .map_err(|e| format!("connect: {e}"))?;
    let mut control: TcpStream = socket.into();
    let _ = control.set_nodelay(true);
    control
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let id = format!("lg{run}-{i}");
    let device = format!(
        "02:4c:47:{:02x}:{:02x}:{:02x}",
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8
    );
    let request = format!(
        "cmd=RecordStartRequest&id={id}&device={device}&remote_number=2{i:05}\
         &local_number=1{i:05}&dir=in&codec=PCMA\n"
    );
    control
        .write_all(request.as_bytes())
        .map_err(|e| format!("send start: {e}"))?;
    let line = read_line(&mut control).map_err(|e| format!("start answer: {e}"))?;
    if field(&line, "result") != Some("success") {
        let reason = field(&line, "reason").unwrap_or("no reason");
        return Err(format!("failed: {}", reason.replace('+', " ")));
    }
    let host: Ipv4Addr = field(&line, "server")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no server address in {line:?}"))?;
    let port: u16 = field(&line, "port")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no port in {line:?}"))?;
    let mut stream = stream_for(Some(id), i, SocketAddrV4::new(host, port));
    stream.source = source;
    Ok((stream, control))
}

/// Stops every session, `concurrency` at once; returns what happened.
fn stop_sessions(
    streams: &[Stream],
    controls: &mut [TcpStream],
    concurrency: usize,
) -> serde_json::Value {
    let next = AtomicUsize::new(0);
    let failures: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());
    let latencies: Mutex<Vec<u64>> = Mutex::new(Vec::with_capacity(streams.len()));
    let slots: Vec<Mutex<&mut TcpStream>> = controls.iter_mut().map(Mutex::new).collect();
    let begin = mono_ns();
    std::thread::scope(|scope| {
        for _ in 0..concurrency.min(slots.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                let mut control = slot.lock().expect("a worker panicked");
                let id = streams[i].id.as_deref().unwrap_or_default();
                let t = mono_ns();
                match stop_one(&mut control, id) {
                    Ok(()) => latencies
                        .lock()
                        .expect("a worker panicked")
                        .push(mono_ns() - t),
                    Err(e) => {
                        *failures
                            .lock()
                            .expect("a worker panicked")
                            .entry(e)
                            .or_default() += 1
                    }
                }
            });
        }
    });
    let seconds = (mono_ns() - begin) as f64 / 1e9;
    let mut latencies = latencies.into_inner().expect("a worker panicked");
    latencies.sort_unstable();
    let failures = failures.into_inner().expect("a worker panicked");
    json!({
        "stopped": latencies.len(),
        "failed": failures.values().sum::<usize>(),
        "failures": failures,
        "seconds": seconds,
        "latency_ms": percentiles_ms(&latencies),
    })
}

fn stop_one(control: &mut TcpStream, id: &str) -> Result<(), String> {
    let line = format!("cmd=RecordStopRequest&id={id}&reason=loadgen\n");
    control
        .write_all(line.as_bytes())
        .map_err(|e| format!("send stop: {e}"))?;
    let answer = read_line(control).map_err(|e| format!("stop answer: {e}"))?;
    if field(&answer, "cmd") != Some("RecordStopResponse")
        || field(&answer, "result") != Some("success")
    {
        return Err(format!("stop answered {:?}", answer));
    }
    Ok(())
}

/// Reads one `\n`-ended line, framed by the protocols' one framer (the server sends nothing
/// else before it, so nothing after the line is lost).
fn read_line(s: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        match split_line(&buf, MAX_LINE) {
            Ok(Some((line, _))) => return Ok(String::from_utf8_lossy(line).into_owned()),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.trim_end()
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

// ------------------------------------------------------------------------------------------
// RTP: the paced sender

fn bind_sources(ips: &[Ipv4Addr]) -> Result<Vec<UdpSocket>, String> {
    ips.iter()
        .map(|&ip| {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
                .map_err(|e| format!("udp socket: {e}"))?;
            // Best effort: the default is enough for a tick of 50 sessions on loopback.
            let _ = s.set_send_buffer_size(SEND_BUFFER);
            s.bind(&SocketAddr::from((ip, 0)).into())
                .map_err(|e| format!("bind udp {ip}: {e}"))?;
            Ok(s.into())
        })
        .collect()
}

/// One `sendmmsg` batch: the messages of one slot from one source socket.
struct Batch {
    fd: RawFd,
    msgs: Vec<libc::mmsghdr>,
    /// The stream of each message.
    streams: Vec<usize>,
}

/// Sends `ticks` packets to every stream, paced, from `threads` threads (each with the streams
/// of its own source sockets: on loopback the sending thread also runs the kernel's receive
/// path, about as costly as the server's own work, so one thread cannot feed thousands of
/// sessions); fills in `sent`/`errors`; returns the sender's lateness and CPU time as JSON
/// (also emitted with `send_end`).
fn send(
    sources: &[UdpSocket],
    streams: &mut [Stream],
    ticks: u64,
    slots: usize,
    threads: usize,
) -> serde_json::Value {
    let n = streams.len();
    let parts = split_by_source(streams, threads);
    let threads = parts.len();
    // The first deadline a little ahead, so the driver's sample falls just before it.
    let t0 = mono_ns() + 50_000_000;
    let end = t0 + ticks * PERIOD_NS;
    let paced: Vec<Paced> = std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || send_part(sources, part, ticks, slots, t0)))
            .collect();
        sleep_until(t0);
        emit(
            json!({"event": "send_start", "streams": n, "ticks": ticks, "slots": slots,
                    "threads": threads}),
        );
        workers
            .into_iter()
            .map(|w| w.join().expect("a sender thread panicked"))
            .collect()
    });
    sleep_until(end);
    let cpu_s = paced.iter().map(|p| p.cpu_ns).sum::<u64>() as f64 / 1e9;
    let late_after = mono_ns().saturating_sub(end);
    let mut start_late = Vec::new();
    let mut end_late = Vec::new();
    let mut worst_by_second = vec![0u64; (ticks * PERIOD_NS).div_ceil(1_000_000_000) as usize];
    for p in &paced {
        start_late.extend_from_slice(&p.start_late);
        end_late.extend_from_slice(&p.end_late);
        for (w, &m) in worst_by_second.iter_mut().zip(&p.worst_by_second) {
            *w = (*w).max(m);
        }
    }
    let over = |v: &[u64], ms: u64| v.iter().filter(|&&x| x > ms * 1_000_000).count();
    let window_s = (ticks * PERIOD_NS) as f64 / 1e9;
    let pacing = json!({
        "seconds": window_s,
        "slots": slots,
        "threads": threads,
        "slot_deadlines": start_late.len(),
        "sendmmsg_calls": paced.iter().map(|p| p.syscalls).sum::<u64>(),
        "send_errors": streams.iter().map(|s| s.errors).sum::<u64>(),
        "last_error": paced.iter().find_map(|p| p.last_error.clone()),
        "cpu_seconds": cpu_s,
        "cpu_percent_of_one_core": cpu_s / window_s * 100.0,
        "cpu_percent_of_one_core_by_thread": paced
            .iter()
            .map(|p| p.cpu_ns as f64 / 1e9 / window_s * 100.0)
            .collect::<Vec<_>>(),
        // How late each slot began sending, and finished its last packet, after its deadline.
        "start_late_ms": percentiles_ms(&sorted(start_late.clone())),
        "end_late_ms": percentiles_ms(&sorted(end_late.clone())),
        "slots_started_over_5ms_late": over(&start_late, 5),
        "slots_finished_over_20ms_late": over(&end_late, 20),
        "end_deadline_late_ms": late_after as f64 / 1e6,
        // [second of the window, ms] where a slot finished over 20 ms after its deadline.
        "seconds_over_20ms_late": worst_by_second
            .iter()
            .enumerate()
            .filter(|(_, &ns)| ns > 20_000_000)
            .map(|(s, &ns)| json!([s, (ns as f64 / 1e5).round() / 10.0]))
            .collect::<Vec<_>>(),
    });
    emit(json!({"event": "send_end", "pacing": pacing}));
    pacing
}

/// `streams` (in order of their source socket) cut into at most `threads` runs of whole
/// sources, as even as the sources allow: no socket is shared by two threads.
fn split_by_source(streams: &mut [Stream], threads: usize) -> Vec<&mut [Stream]> {
    let sources = streams.last().map_or(0, |s| s.source + 1);
    let ordered = streams.windows(2).all(|w| w[0].source <= w[1].source);
    let threads = if ordered {
        threads.clamp(1, sources.max(1))
    } else {
        1
    };
    let mut parts = Vec::with_capacity(threads);
    let mut rest = streams;
    for t in 1..threads {
        // The first stream of the sources the next thread takes.
        let boundary = sources * t / threads;
        let at = rest.partition_point(|s| s.source < boundary);
        let (part, tail) = rest.split_at_mut(at);
        if !part.is_empty() {
            parts.push(part);
        }
        rest = tail;
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest);
    }
    parts
}

/// What one sender thread measured.
struct Paced {
    start_late: Vec<u64>,
    end_late: Vec<u64>,
    /// The latest slot finish of each second of the window, to place a stall in time.
    worst_by_second: Vec<u64>,
    syscalls: u64,
    last_error: Option<String>,
    cpu_ns: u64,
}

/// One sender thread: `streams`' packets for every tick from `t0`, each slot on its deadline.
fn send_part(
    sources: &[UdpSocket],
    streams: &mut [Stream],
    ticks: u64,
    slots: usize,
    t0: u64,
) -> Paced {
    let n = streams.len();
    // Fixed buffers, never resized below: the messages point into them.
    let mut packets: Vec<[u8; PACKET]> = vec![[0u8; PACKET]; n];
    let mut names: Vec<libc::sockaddr_in> = streams.iter().map(|s| sockaddr(s.dest)).collect();
    let mut iovs: Vec<libc::iovec> = Vec::with_capacity(n);
    let packets_ptr = packets.as_mut_ptr();
    for (i, s) in streams.iter().enumerate() {
        // SAFETY: i < n, the length of `packets`; the buffer lives until the end of `send_part`.
        let p = unsafe { &mut *packets_ptr.add(i) };
        p[0] = 0x80;
        p[1] = PT_PCMA;
        p[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
        for (k, b) in p[12..].iter_mut().enumerate() {
            // A-law of a slow ramp: not one repeating byte (the server does not decode it).
            *b = ((k * 7 + i) as u8 & 0x7F) ^ 0xD5;
        }
        iovs.push(libc::iovec {
            iov_base: p.as_mut_ptr().cast(),
            iov_len: PACKET,
        });
    }
    // The slot of a stream: its source socket's, so each socket sends its streams of a tick
    // in one call, unless there are fewer sockets than slots (then the stream's own).
    // In a slot, one batch per source socket (the streams of a socket are consecutive).
    let mut plan: Vec<Vec<Batch>> = (0..slots).map(|_| Vec::new()).collect();
    let names_ptr = names.as_mut_ptr();
    let iovs_ptr = iovs.as_mut_ptr();
    for (i, s) in streams.iter().enumerate() {
        let slot = if sources.len() >= slots { s.source } else { i } % slots;
        let batches = &mut plan[slot];
        let fd = sources[s.source].as_raw_fd();
        if batches.last().is_none_or(|b| b.fd != fd) {
            batches.push(Batch {
                fd,
                msgs: Vec::new(),
                streams: Vec::new(),
            });
        }
        // SAFETY: all-zero is a valid mmsghdr; the pointers set below outlive every send.
        let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
        // SAFETY: i < n for both buffers, which are not resized while `send_part` runs.
        unsafe {
            m.msg_hdr.msg_name = names_ptr.add(i).cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            m.msg_hdr.msg_iov = iovs_ptr.add(i);
        }
        m.msg_hdr.msg_iovlen = 1;
        let b = batches.last_mut().expect("pushed above when empty");
        b.msgs.push(m);
        b.streams.push(i);
    }

    let slot_ns = PERIOD_NS / slots as u64;
    let mut out = Paced {
        start_late: Vec::with_capacity((ticks as usize) * slots),
        end_late: Vec::with_capacity((ticks as usize) * slots),
        worst_by_second: vec![0; (ticks * PERIOD_NS).div_ceil(1_000_000_000) as usize],
        syscalls: 0,
        last_error: None,
        cpu_ns: 0,
    };
    sleep_until(t0);
    let cpu0 = thread_cpu_ns();
    for tick in 0..ticks {
        for (slot, batches) in plan.iter_mut().enumerate() {
            let deadline = t0 + tick * PERIOD_NS + slot as u64 * slot_ns;
            sleep_until(deadline);
            out.start_late.push(mono_ns().saturating_sub(deadline));
            for b in batches.iter_mut() {
                for &i in &b.streams {
                    let s = &streams[i];
                    let seq = s.seq0.wrapping_add(tick as u16);
                    let ts = s.ts0.wrapping_add((tick as u32).wrapping_mul(FRAME as u32));
                    // SAFETY: i < n; nothing else holds a reference into `packets` now.
                    let p = unsafe { &mut *packets_ptr.add(i) };
                    p[1] = PT_PCMA | if tick == 0 { 0x80 } else { 0 };
                    p[2..4].copy_from_slice(&seq.to_be_bytes());
                    p[4..8].copy_from_slice(&ts.to_be_bytes());
                }
                let mut off = 0;
                while off < b.msgs.len() {
                    let len = (b.msgs.len() - off).min(MAX_BATCH);
                    out.syscalls += 1;
                    // SAFETY: `msgs[off..off + len]` are valid mmsghdrs whose pointers point
                    // into `names`, `iovs` and `packets`, all alive and unmoved.
                    let r =
                        unsafe { libc::sendmmsg(b.fd, b.msgs.as_mut_ptr().add(off), len as _, 0) };
                    if r < 0 {
                        let e = std::io::Error::last_os_error();
                        if e.kind() == std::io::ErrorKind::Interrupted {
                            continue;
                        }
                        // The first message of the batch failed: count it, go on after it.
                        streams[b.streams[off]].errors += 1;
                        out.last_error = Some(e.to_string());
                        off += 1;
                        continue;
                    }
                    for &i in &b.streams[off..off + r as usize] {
                        streams[i].sent += 1;
                    }
                    off += r as usize;
                }
            }
            let late = mono_ns().saturating_sub(deadline);
            out.end_late.push(late);
            let second = (tick * PERIOD_NS / 1_000_000_000) as usize;
            if let Some(m) = out.worst_by_second.get_mut(second) {
                *m = (*m).max(late);
            }
        }
    }
    out.cpu_ns = thread_cpu_ns() - cpu0;
    // The messages point into these: keep them alive to here.
    drop(plan);
    drop((names, iovs, packets));
    out
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// A compound RTCP packet, an empty receiver report then BYE (RFC 3550 6.6).
fn rtcp_bye(ssrc: u32) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..4].copy_from_slice(&[0x80, 201, 0, 1]);
    p[4..8].copy_from_slice(&ssrc.to_be_bytes());
    p[8..12].copy_from_slice(&[0x81, 203, 0, 1]);
    p[12..].copy_from_slice(&ssrc.to_be_bytes());
    p
}

// ------------------------------------------------------------------------------------------
// Time

fn mono_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time of the calling thread.
fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime with a pointer to a live timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Sleeps until CLOCK_MONOTONIC reaches `deadline_ns` (an absolute deadline: no drift).
fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: clock_nanosleep with a pointer to a live timespec; EINTR retries.
    while unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    } == libc::EINTR
    {}
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

/// p50, p99, p99.9 and max of sorted nanoseconds, in ms.
fn percentiles_ms(sorted_ns: &[u64]) -> serde_json::Value {
    let at = |q: f64| -> f64 {
        if sorted_ns.is_empty() {
            return 0.0;
        }
        let i = ((sorted_ns.len() - 1) as f64 * q).round() as usize;
        sorted_ns[i] as f64 / 1e6
    };
    json!({"p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": at(1.0)})
}
