//! The simulator's I/O: the media thread, the control steps and the watcher, on plain threads.
//!
//! Three independent parts share one start instant:
//! - the **media thread** sends the planned segments' packets, each at its absolute deadline
//!   `start + k × ptime` (a late wake-up sends the due packets at once, and the next deadline is
//!   unchanged, so nothing drifts);
//! - the **main thread** sends each step at its time, on a fresh connection (the agent closes
//!   a client silent for 60 s, and a script may pause longer), and prints the answer; a slow
//!   answer (network mode can take seconds) delays later steps but never the audio;
//! - with `--watch`, a **watcher** prints every event of a `watch` subscription;
//! - with `--sip`, the phone's SIP stack ([`super::sip_io`]): the main thread places each call
//!   (INVITE, ACK) at its first event and hangs it up (BYE) after its `ended`, and its events
//!   carry the dialog; the watcher (subscribed then even without `--watch`) hands every
//!   `sip_request` event to the stack, which sends it and reports the final response.
//!
//! Blocking threads rather than tokio: a few fixed tasks, and pacing is a sleep to a deadline.

use super::media::Audio;
use super::plan::Segment;
use super::report::{self, Answer};
use super::rng::{seed_from_clock, Rng};
use super::script::{Action, Step};
use super::sip::{DEFAULT_LOCAL, DEFAULT_REMOTE};
use super::sip_io::{Forwarder, Sip, SipConfig};
use super::stream::{Stats, Stream, StreamConfig};
use callrec_core::codec::Codec;
use callrec_core::control_protocol::{encode_request, CallEvent, Command, MAX_ANSWER_LINE};
use callrec_platform::line_reader::LineReader;
use std::fmt;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for the agent's answer to one step (network mode's start takes up to 8 s).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the watcher goes on after the last step, for the events that step caused.
const WATCH_LINGER: Duration = Duration::from_millis(300);
/// Longest single sleep, so a stop request is noticed promptly.
const SLEEP_SLICE: Duration = Duration::from_millis(100);

/// How the audio is made.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// `--codec`; else each call's own codec, else PCMA.
    pub codec: Option<Codec>,
    pub ptime_ms: u32,
    pub loss: f64,
    pub reorder: f64,
    pub seed: u64,
    pub audio: Audio,
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub steps: Vec<Step>,
    pub segments: Vec<Segment>,
    /// Where RTP goes unless a call names its own port.
    pub tap: SocketAddr,
    /// The agent's control socket; `None` for `play`.
    pub control: Option<PathBuf>,
    pub media: MediaConfig,
    pub watch: bool,
    /// `--sip`: play the phone's SIP stack against this PBX.
    pub sip: Option<SipConfig>,
}

/// How a run went (it reached its end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stats: Stats,
    /// Steps the agent answered `ok: false`.
    pub refused: usize,
    /// Steps whose answer was not a response line.
    pub garbled: usize,
}

/// Runs the steps and the audio; prints a line per step and the summary. An error is a run
/// that could not go on (the agent unreachable, no UDP socket).
pub fn run(config: RunConfig) -> Result<Outcome, RunError> {
    // Reach the agent before the clock starts: an agent that is down fails the run at once.
    let watcher = match (&config.control, config.watch || config.sip.is_some()) {
        (Some(path), true) => subscribe(path)?,
        _ => None,
    };
    if let Some(path) = &config.control {
        UnixStream::connect(path).map_err(|e| unreachable(path, e))?;
    }
    let start = Instant::now();
    let sip = match (&config.sip, &config.control) {
        (Some(sip), Some(path)) => {
            if watcher.is_none() {
                eprintln!("callrec-sim: without events, callrec's SIP requests are not sent");
            }
            // SIP identifiers differ between runs even with `--seed` (a PBX remembers dialogs).
            Some(Sip::start(sip, path.clone(), start, seed_from_clock())?)
        }
        _ => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let media = {
        let (segments, media, tap, stop) = (
            config.segments.clone(),
            config.media.clone(),
            config.tap,
            stop.clone(),
        );
        thread::spawn(move || play(&segments, &media, tap, start, &stop))
    };
    let watcher = watcher.map(|reader| {
        let stop = stop.clone();
        let print = config.watch;
        let forward = sip.as_ref().map(Sip::forwarder);
        thread::spawn(move || watch_events(reader, &stop, print, forward))
    });
    let steps = match &config.control {
        Some(path) => drive(&config.steps, path, start, sip.as_ref()),
        None => Ok((0, 0)),
    };
    if steps.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    let stats = media.join().unwrap_or(Err(RunError::MediaThread));
    if let Some(w) = watcher {
        thread::sleep(WATCH_LINGER);
        // The requests the last steps caused get their answers (bounded by Timer F).
        if let Some(sip) = &sip {
            sip.wait_idle();
        }
        stop.store(true, Ordering::Relaxed);
        let _ = w.join();
    }
    let sip_refused = sip.map_or(0, Sip::finish);
    let stats = stats?;
    println!("{}", report::summary(&stats));
    let (refused, garbled) = steps?;
    let refused = refused + sip_refused;
    Ok(Outcome {
        stats,
        refused,
        garbled,
    })
}

/// Why a run could not go on, by who is at fault.
#[derive(Debug)]
pub enum RunError {
    /// The agent's socket is not there, refuses, or broke: the agent (or the path given).
    Agent {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The agent closed the connection without answering.
    AgentClosed(PathBuf),
    /// The agent did not answer within `ANSWER_TIMEOUT`.
    AgentSilent(PathBuf),
    /// A step the agent could not be asked: its script line and what it was.
    Step {
        line: usize,
        action: String,
        error: Box<RunError>,
    },
    /// The thread that sends the RTP panicked: the simulator.
    MediaThread,
    /// A socket of this machine (RTP, SIP): `what` names it.
    Socket { what: String, error: std::io::Error },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Agent { path, error } => {
                write!(f, "cannot reach the agent at {}: {error}", path.display())
            }
            RunError::AgentClosed(path) => write!(
                f,
                "the agent at {} closed the connection without answering",
                path.display()
            ),
            RunError::AgentSilent(path) => write!(
                f,
                "no answer from the agent at {} within {} s",
                path.display(),
                ANSWER_TIMEOUT.as_secs()
            ),
            RunError::Step {
                line,
                action,
                error,
            } => write!(f, "line {line} ({action}): {error}"),
            RunError::MediaThread => f.write_str("the media thread failed"),
            RunError::Socket { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for RunError {}

fn unreachable(path: &Path, error: std::io::Error) -> RunError {
    RunError::Agent {
        path: path.to_owned(),
        error,
    }
}

/// Sends every step at its time and prints the answers: (refused, garbled). With `--sip`, a
/// call's first event places it, its events carry the dialog, and its end hangs it up.
fn drive(
    steps: &[Step],
    path: &Path,
    start: Instant,
    sip: Option<&Sip>,
) -> Result<(usize, usize), RunError> {
    let (mut refused, mut garbled) = (0, 0);
    let never = AtomicBool::new(false);
    // The calls the SIP side has seen (placed or made up), by id.
    let mut calls: Vec<String> = Vec::new();
    for step in steps {
        sleep_until(start + Duration::from_millis(step.at_ms), &never);
        let mut action = step.action.clone();
        let mut hang_up = None;
        if let (Some(sip), Action::Call(event, info)) = (sip, &mut action) {
            let id = info.id.clone().unwrap_or_default();
            if !calls.contains(&id) && *event != CallEvent::Ended {
                calls.push(id.clone());
                let local = non_empty(&info.local_number, DEFAULT_LOCAL);
                let remote = non_empty(&info.remote_number, DEFAULT_REMOTE);
                if step.sip_none {
                    sip.made_up(&id, local, remote);
                } else {
                    sip.invite(&id, local, remote);
                }
            }
            info.dialog = sip.dialog(&id).map(Box::new);
            if *event == CallEvent::Ended {
                calls.retain(|c| *c != id);
                hang_up = Some(id);
            }
        }
        let line = ask(path, &action.request()).map_err(|e| RunError::Step {
            line: step.line,
            action: step.action.to_string(),
            error: Box::new(e),
        })?;
        let answer = Answer::parse(&line);
        match answer {
            Answer::Ok(_) => {}
            Answer::Refused(_) => refused += 1,
            Answer::Garbled(_) => garbled += 1,
        }
        println!("{}", report::step_line(step, &answer));
        // The phone hangs up once its firmware has told the agent.
        if let (Some(sip), Some(id)) = (sip, hang_up) {
            sip.bye(&id);
        }
    }
    Ok((refused, garbled))
}

fn non_empty<'a>(v: &'a str, default: &'a str) -> &'a str {
    if v.is_empty() {
        default
    } else {
        v
    }
}

/// One request on a fresh connection; the answer line.
pub(super) fn ask(path: &Path, request: &str) -> Result<String, RunError> {
    let fail = |e: std::io::Error| unreachable(path, e);
    let mut stream = UnixStream::connect(path).map_err(fail)?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(fail)?;
    stream.write_all(request.as_bytes()).map_err(fail)?;
    let mut lines = LineReader::new(stream, MAX_ANSWER_LINE);
    match lines.read_line() {
        Ok(None) => Err(RunError::AgentClosed(path.to_owned())),
        Ok(Some(answer)) => Ok(format!("{}\n", String::from_utf8_lossy(answer))),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err(RunError::AgentSilent(path.to_owned()))
        }
        Err(e) => Err(fail(e)),
    }
}

/// Opens the `watch` subscription; `None` (and a note) if the agent refuses it.
fn subscribe(path: &Path) -> Result<Option<LineReader<UnixStream>>, RunError> {
    let fail = |e: std::io::Error| unreachable(path, e);
    let mut stream = UnixStream::connect(path).map_err(fail)?;
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(fail)?;
    stream
        .write_all(encode_request(&Command::Watch).as_bytes())
        .map_err(fail)?;
    let mut reader = LineReader::new(stream, MAX_ANSWER_LINE);
    let first = match reader.read_line().map_err(fail)? {
        Some(line) => String::from_utf8_lossy(line).into_owned(),
        None => String::new(),
    };
    match Answer::parse(&first) {
        Answer::Ok(_) => {}
        Answer::Refused(why) | Answer::Garbled(why) => {
            eprintln!("callrec-sim: watch refused ({why}); going on without events");
            return Ok(None);
        }
    }
    // Short reads from now on, so the watcher notices the end of the run.
    reader
        .get_ref()
        .set_read_timeout(Some(SLEEP_SLICE))
        .map_err(fail)?;
    Ok(Some(reader))
}

/// Prints each event line, prefixed `event ` (with `--watch`), and hands `sip_request` events
/// to the SIP stack (with `--sip`), until the agent closes or the run ends.
fn watch_events(
    mut reader: LineReader<UnixStream>,
    stop: &AtomicBool,
    print: bool,
    forward: Option<Forwarder>,
) {
    loop {
        // A timeout keeps what was read before it, so a line split across reads comes out
        // whole.
        match reader.read_line() {
            Ok(None) => return,
            Ok(Some(line)) => {
                let text = String::from_utf8_lossy(line);
                if print {
                    println!("event {}", text.trim_end());
                }
                if let Some(f) = &forward {
                    f.event(text.trim_end());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Sleeps until `deadline`; false if `stop` was set first.
fn sleep_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(SLEEP_SLICE));
    }
}

/// The media thread: every segment's frames at their deadlines.
fn play(
    segments: &[Segment],
    media: &MediaConfig,
    tap: SocketAddr,
    start: Instant,
    stop: &AtomicBool,
) -> Result<Stats, RunError> {
    let mut sockets = Sockets::default();
    let mut rng = Rng::new(media.seed);
    let mut streams: Vec<(Option<String>, Stream)> = Vec::new();
    let mut send_errors = 0u64;
    'segments: for segment in segments {
        let to = match segment.tap_port {
            Some(port) => SocketAddr::from(([127, 0, 0, 1], port)),
            None => tap,
        };
        let socket = sockets.to(to)?;
        let i = match streams.iter().position(|(c, _)| *c == segment.call) {
            Some(i) => i,
            None => {
                let config = StreamConfig {
                    codec: media.codec.or(segment.codec).unwrap_or(Codec::Pcma),
                    ptime_ms: media.ptime_ms,
                    loss: media.loss,
                    reorder: media.reorder,
                };
                let stream = Stream::new(config, &media.audio, rng.fork());
                streams.push((segment.call.clone(), stream));
                streams.len() - 1
            }
        };
        let stream = &mut streams[i].1;
        let mut send = |bytes: &[u8]| {
            if let Err(e) = socket.send_to(bytes, to) {
                if send_errors == 0 {
                    eprintln!("callrec-sim: sending RTP to {to}: {e}");
                }
                send_errors += 1;
            }
        };
        for k in segment.frames(media.ptime_ms) {
            let deadline = start + Duration::from_millis(k * u64::from(media.ptime_ms));
            if !sleep_until(deadline, stop) {
                stream.pause(&mut send);
                break 'segments;
            }
            stream.frame(k, &mut send);
        }
        stream.pause(&mut send);
    }
    if send_errors > 1 {
        eprintln!("callrec-sim: {send_errors} datagrams could not be sent");
    }
    let mut total = Stats::default();
    for (_, s) in &streams {
        total += s.stats();
    }
    total.sent = total.sent.saturating_sub(send_errors);
    Ok(total)
}

/// One UDP socket per address family, bound on first use.
#[derive(Default)]
struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl Sockets {
    fn to(&mut self, to: SocketAddr) -> Result<&UdpSocket, RunError> {
        let (slot, any) = match to {
            SocketAddr::V4(_) => (&mut self.v4, "0.0.0.0:0"),
            SocketAddr::V6(_) => (&mut self.v6, "[::]:0"),
        };
        if slot.is_none() {
            let socket = UdpSocket::bind(any).map_err(|error| RunError::Socket {
                what: "UDP socket".into(),
                error,
            })?;
            *slot = Some(socket);
        }
        slot.as_ref().ok_or_else(|| RunError::Socket {
            what: "UDP socket".into(),
            error: std::io::Error::other("not bound"),
        })
    }
}
