//! `callrec-sim`'s command line: `run SCRIPT`, `call …`, `play --seconds N`.
//!
//! Everything the user gives (options, the script, the WAV clip, the board) is read and checked
//! before the first packet or request, so a mistake is exit status 2 with nothing sent; what
//! goes wrong afterwards (the agent unreachable, a refusal under `--strict`) is status 1.

use super::flags::CallFlags;
use super::media::{Audio, MAX_PTIME_MS, MIN_PTIME_MS};
use super::plan::{self, Segment};
use super::rng::seed_from_clock;
use super::run::{self, MediaConfig, RunConfig};
use super::script::{parse_script, parse_seconds, Step};
use super::sip_io::SipConfig;
use super::wav::parse_wav;
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_platform::config::board::Board;
use lexopt::Arg;
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const USAGE: &str = "\
callrec-sim: plays a phone call into the callrec agent: RTP audio into its tap, call events
and key presses on its control socket, and with --sip the phone's SIP stack at a PBX

usage:
  callrec-sim run SCRIPT [options]        the steps of a script file (- for stdin; see below)
  callrec-sim call --hangup-at S [--id ID] [--dir in|out] [--remote N] [--remote-name S]
                   [--answer-at S] [--record-at S] [--pause-at S] [--resume-at S]
                   [--stop-at S] [--hold-at S [--unhold-at S]] [options]
                                          the common call (id c1, answered at 0.5 s unless
                                          told); record/stop press the record key, pause/resume
                                          the pause key (each may be repeated); S in seconds
  callrec-sim play --seconds S [options]  RTP only, no control socket

options:
  --board NAME|FILE       the agent's board: its tap and control socket (default host)
  --tap ADDR:PORT         where RTP goes (default the board's tap; a call's tap_port wins)
  --control-socket PATH   the agent's control socket (default the board's)
  --codec PCMA|PCMU|G722  what is sent (default the call's codec, else PCMA)
  --ptime MS              packet time, 10 to 60 (default 20)
  --wav FILE              a 16-bit PCM WAV clip (any rate, mono or stereo), looped
  --sine HZ               a tone (the default: 440 Hz)
  --loss P                fraction of packets not sent, 0 to 1
  --reorder P             fraction of packets swapped with the next one, 0 to 1
  --seed N                repeatable SSRC, sequence numbers, timestamps, loss and reorder
  --watch                 also print the agent's events (`watch`), prefixed \"event \"
  --sip ADDR:PORT         play the phone's SIP stack against this PBX (UDP): each call is
                          placed (INVITE, ACK) at its first event and hung up (BYE) after its
                          `ended`, its events carry the dialog, and every `sip_request` event
                          of the agent is sent (its `wire`, retransmitted as RFC 3261 says)
                          and its final response reported (`sip_response`; \"timeout\" after
                          32 s); one line per exchange: `  2.013 sip INFO Record: on -> 200 OK`
  --sip-build             build callrec's requests from method, uri and headers with this
                          stack's own Via, CSeq and Max-Forwards, instead of sending `wire`
  --sip-drop N            hold back the Nth sip_request: never sent, never reported
  --strict                exit 1 if the agent refuses any step
  --dry-run               print the steps as a script and exit, sending nothing (run, call)

script: one step per line, TIME STEP, TIME in seconds from the start (never going back),
  # starts a comment. STEP is one of:
    call started|answered|held|resumed|ended id=ID [dir=in|out] [remote=N] [remote_name=S]
         [local=N] [local_name=S] [codec=PCMA|PCMU|G722] [tap_port=P] [sip=none]
    key record|pause
    start [FIELD=VALUE...] | stop | pause | resume | status | reload
  A value with spaces is quoted: remote_name=\"Bob Smith\". Audio flows from `answered` until
  `held`, again from `resumed`, until `ended` (each call its own SSRC), and at most until the
  last step. A bad line is reported with its number before anything is sent.
  With --sip, the call goes from sip:LOCAL@PBX-HOST (local=, default 1001) to
  sip:REMOTE@ADDR:PORT (remote=, default 1002), whatever its dir; sip=none on its first event
  gives it a made-up dialog instead (no INVITE or BYE; the PBX answers 481).

output: one line per step, `  1.000 key record -> ok recording Record_...` or
  `-> refused CODE: MESSAGE`; with --sip also one per SIP exchange
  (`  0.000 sip INVITE c1 -> 200 OK`); then `sent N packets (M lost on purpose, K reordered)`.

exit status: 0 done, 1 failed (agent unreachable, an answer not understood, a refusal with
--strict), 2 bad usage (an option, the script, the WAV file or the board)";

/// Largest script file read (a script is a few lines; this only bounds memory).
const MAX_SCRIPT_BYTES: u64 = 1 << 20;
/// Largest WAV clip read (about 45 minutes of 48 kHz stereo).
const MAX_WAV_BYTES: u64 = 512 << 20;
/// Default tone, Hz.
const DEFAULT_SINE_HZ: f64 = 440.0;
/// Highest tone: the Nyquist frequency of G.722's 16 kHz.
const MAX_SINE_HZ: f64 = 8000.0;

/// Why the simulator stopped, by who is at fault: the command line (exit 2, with a pointer to
/// the usage), the script or a file it names (exit 2), or the run: the agent, a socket (exit 1).
#[derive(Debug)]
pub enum SimError {
    Usage(String),
    /// Bad input that is not an option: the message alone says enough.
    Input(String),
    Failed(String),
}

impl SimError {
    fn usage(message: impl Into<String>) -> SimError {
        SimError::Usage(message.into())
    }

    fn input(message: impl Into<String>) -> SimError {
        SimError::Input(message.into())
    }

    fn failed(message: impl Into<String>) -> SimError {
        SimError::Failed(message.into())
    }

    /// The exit status.
    pub fn code(&self) -> u8 {
        match self {
            SimError::Usage(_) | SimError::Input(_) => 2,
            SimError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Usage(m) => write!(f, "{m}\n(callrec-sim --help for usage)"),
            SimError::Input(m) | SimError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SimError {}

impl From<lexopt::Error> for SimError {
    fn from(e: lexopt::Error) -> Self {
        SimError::usage(e.to_string())
    }
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-sim", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    match dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callrec-sim: {e}");
            ExitCode::from(e.code())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Run,
    Call,
    Play,
}

/// Options common to the subcommands.
#[derive(Debug, Default)]
struct Options {
    board: Option<String>,
    tap: Option<SocketAddr>,
    socket: Option<PathBuf>,
    codec: Option<Codec>,
    ptime_ms: Option<u32>,
    wav: Option<PathBuf>,
    sine: Option<f64>,
    loss: f64,
    reorder: f64,
    seed: Option<u64>,
    watch: bool,
    strict: bool,
    dry_run: bool,
    sip: Option<SocketAddr>,
    sip_build: bool,
    sip_drop: Option<u64>,
}

fn dispatch(args: Vec<OsString>) -> Result<(), SimError> {
    let mut args = args.into_iter();
    let sub = match args.next().and_then(|s| s.into_string().ok()).as_deref() {
        Some("run") => Sub::Run,
        Some("call") => Sub::Call,
        Some("play") => Sub::Play,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return Ok(());
        }
        Some(other) => return Err(SimError::usage(format!("unknown command {other:?}"))),
        None => return Err(SimError::usage("no command given (run, call or play)")),
    };
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options::default();
    let mut flags = CallFlags::default();
    let mut script = None;
    let mut seconds = None;
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Short('h') | Arg::Long("help") => {
                println!("{USAGE}");
                return Ok(());
            }
            Arg::Long("board") => o.board = Some(string(&mut p)?),
            Arg::Long("tap") => {
                let v = string(&mut p)?;
                let tap = v
                    .parse()
                    .map_err(|_| SimError::usage(format!("--tap {v:?}: not an ADDR:PORT")))?;
                o.tap = Some(tap);
            }
            Arg::Long("control-socket") => o.socket = Some(PathBuf::from(p.value()?)),
            Arg::Long("codec") => {
                let v = string(&mut p)?;
                let codec = Codec::from_name(&v)
                    .ok_or_else(|| SimError::usage(format!("--codec {v:?}: PCMA, PCMU or G722")))?;
                o.codec = Some(codec);
            }
            Arg::Long("ptime") => {
                let ms: u32 = number(&mut p, "--ptime")?;
                if !(MIN_PTIME_MS..=MAX_PTIME_MS).contains(&ms) {
                    return Err(SimError::usage(format!(
                        "--ptime {ms}: {MIN_PTIME_MS} to {MAX_PTIME_MS} ms"
                    )));
                }
                o.ptime_ms = Some(ms);
            }
            Arg::Long("wav") => o.wav = Some(PathBuf::from(p.value()?)),
            Arg::Long("sine") => {
                let hz: f64 = number(&mut p, "--sine")?;
                if !(hz > 0.0 && hz <= MAX_SINE_HZ) {
                    return Err(SimError::usage(format!(
                        "--sine {hz}: above 0, at most {MAX_SINE_HZ} Hz"
                    )));
                }
                o.sine = Some(hz);
            }
            Arg::Long("loss") => o.loss = fraction(&mut p, "--loss")?,
            Arg::Long("reorder") => o.reorder = fraction(&mut p, "--reorder")?,
            Arg::Long("seed") => o.seed = Some(number(&mut p, "--seed")?),
            Arg::Long("watch") => o.watch = true,
            Arg::Long("sip") => {
                let v = string(&mut p)?;
                let pbx = v
                    .parse()
                    .map_err(|_| SimError::usage(format!("--sip {v:?}: not an ADDR:PORT")))?;
                o.sip = Some(pbx);
            }
            Arg::Long("sip-build") => o.sip_build = true,
            Arg::Long("sip-drop") => {
                let n: u64 = number(&mut p, "--sip-drop")?;
                if n == 0 {
                    return Err(SimError::usage("--sip-drop N: N counts from 1"));
                }
                o.sip_drop = Some(n);
            }
            Arg::Long("strict") => o.strict = true,
            Arg::Long("dry-run") => o.dry_run = true,
            Arg::Long("seconds") if sub == Sub::Play => seconds = Some(time(&mut p, "--seconds")?),
            Arg::Value(v) if sub == Sub::Run && script.is_none() => script = Some(PathBuf::from(v)),
            Arg::Long(name) if sub == Sub::Call => {
                let name = name.to_owned();
                call_flag(&name, &mut p, &mut flags)?;
            }
            other => return Err(other.unexpected().into()),
        }
    }
    if o.wav.is_some() && o.sine.is_some() {
        return Err(SimError::usage("--wav and --sine: one or the other"));
    }
    if o.sip.is_none() && (o.sip_build || o.sip_drop.is_some()) {
        return Err(SimError::usage("--sip-build and --sip-drop need --sip"));
    }

    let steps: Vec<Step> = match sub {
        Sub::Run => {
            let path = script.ok_or_else(|| SimError::usage("run needs a SCRIPT file"))?;
            read_script(&path)?
        }
        Sub::Call => {
            flags.codec = o.codec;
            flags.steps().map_err(SimError::usage)?
        }
        Sub::Play => {
            if o.socket.is_some() || o.watch || o.strict || o.dry_run || o.sip.is_some() {
                return Err(SimError::usage(
                    "play sends RTP only: no --control-socket, --watch, --strict, --dry-run \
                     or --sip",
                ));
            }
            Vec::new()
        }
    };
    let segments = match sub {
        Sub::Play => {
            let ms = seconds.ok_or_else(|| SimError::usage("play needs --seconds S"))?;
            if ms == 0 {
                return Err(SimError::usage("play needs --seconds above 0"));
            }
            vec![Segment::whole(ms)]
        }
        Sub::Run | Sub::Call => plan::segments(&steps),
    };
    if o.dry_run {
        for step in &steps {
            println!("{step}");
        }
        return Ok(());
    }

    let need_control = sub != Sub::Play && o.socket.is_none();
    let board = if o.tap.is_none() || need_control {
        Some(board(o.board.as_deref())?)
    } else {
        None
    };
    let tap = o.tap.or(board.as_ref().map(|b| b.tap));
    let tap = tap.ok_or_else(|| SimError::usage("no tap: give --tap or --board"))?;
    let control = match sub {
        Sub::Play => None,
        Sub::Run | Sub::Call => o.socket.or(board.map(|b| b.control_socket)),
    };
    let audio = match &o.wav {
        Some(path) => Audio::Clip(read_wav(path)?),
        None => Audio::Sine(o.sine.unwrap_or(DEFAULT_SINE_HZ)),
    };
    let config = RunConfig {
        steps,
        segments,
        tap,
        control,
        media: MediaConfig {
            codec: o.codec,
            ptime_ms: o.ptime_ms.unwrap_or(20),
            loss: o.loss,
            reorder: o.reorder,
            seed: o.seed.unwrap_or_else(seed_from_clock),
            audio,
        },
        watch: o.watch,
        sip: o.sip.map(|pbx| SipConfig {
            pbx,
            build: o.sip_build,
            drop: o.sip_drop,
        }),
    };
    let outcome = run::run(config).map_err(|e| SimError::failed(e.to_string()))?;
    if outcome.garbled > 0 {
        return Err(SimError::failed(format!(
            "{} answer(s) from the agent not understood",
            outcome.garbled
        )));
    }
    if o.strict && outcome.refused > 0 {
        return Err(SimError::failed(format!(
            "the agent refused {} step(s) (--strict)",
            outcome.refused
        )));
    }
    Ok(())
}

/// One of `call`'s own flags.
fn call_flag(name: &str, p: &mut lexopt::Parser, f: &mut CallFlags) -> Result<(), SimError> {
    match name {
        "id" => f.id = Some(string(p)?),
        "dir" => {
            let v = string(p)?;
            let dir = Direction::from_name(&v)
                .ok_or_else(|| SimError::usage(format!("--dir {v:?}: in or out")))?;
            f.dir = Some(dir);
        }
        "remote" => f.remote = Some(string(p)?),
        "remote-name" => f.remote_name = Some(string(p)?),
        "answer-at" => f.answer_at = Some(time(p, "--answer-at")?),
        "record-at" => f.record_at.push(time(p, "--record-at")?),
        "pause-at" => f.pause_at.push(time(p, "--pause-at")?),
        "resume-at" => f.resume_at.push(time(p, "--resume-at")?),
        "stop-at" => f.stop_at.push(time(p, "--stop-at")?),
        "hold-at" => f.hold_at = Some(time(p, "--hold-at")?),
        "unhold-at" => f.unhold_at = Some(time(p, "--unhold-at")?),
        "hangup-at" => f.hangup_at = Some(time(p, "--hangup-at")?),
        other => return Err(Arg::Long(other).unexpected().into()),
    }
    Ok(())
}

/// The board named, or the host board: by name, else `board/host.json` from here.
fn board(name: Option<&str>) -> Result<Board, SimError> {
    let found = match name {
        Some(n) => Board::resolve(n).map_err(|e| format!("board {n:?}: {e}")),
        None => Board::resolve("host")
            .or_else(|_| Board::load(Path::new("board/host.json")))
            .map_err(|e| {
                format!("no host board ({e}): give --board, or --tap and --control-socket")
            }),
    };
    found.map_err(SimError::input)
}

fn read_script(path: &Path) -> Result<Vec<Step>, SimError> {
    let shown = path.display();
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_SCRIPT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_SCRIPT_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| SimError::input(format!("{shown}: {e}")))?;
    if bytes.len() as u64 > MAX_SCRIPT_BYTES {
        return Err(SimError::input(format!("{shown}: larger than 1 MiB")));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| SimError::input(format!("{shown}: not UTF-8 text")))?;
    parse_script(&text).map_err(|e| SimError::input(format!("{shown}: {e}")))
}

fn read_wav(path: &Path) -> Result<super::wav::Clip, SimError> {
    let shown = path.display();
    let fail = |e: std::io::Error| SimError::input(format!("{shown}: {e}"));
    let len = std::fs::metadata(path).map_err(fail)?.len();
    if len > MAX_WAV_BYTES {
        return Err(SimError::input(format!(
            "{shown}: larger than {} MiB",
            MAX_WAV_BYTES >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(fail)?;
    parse_wav(&bytes).map_err(|e| SimError::input(format!("{shown}: {e}")))
}

/// The next value of an option as a string.
fn string(p: &mut lexopt::Parser) -> Result<String, SimError> {
    p.value()?
        .into_string()
        .map_err(|_| SimError::usage("option value is not UTF-8"))
}

fn number<T: std::str::FromStr>(p: &mut lexopt::Parser, flag: &str) -> Result<T, SimError> {
    let v = string(p)?;
    v.parse()
        .map_err(|_| SimError::usage(format!("{flag} {v:?}: not a number")))
}

/// A fraction from 0 to 1.
fn fraction(p: &mut lexopt::Parser, flag: &str) -> Result<f64, SimError> {
    let f: f64 = number(p, flag)?;
    if !(0.0..=1.0).contains(&f) {
        return Err(SimError::usage(format!(
            "{flag} {f}: a fraction from 0 to 1"
        )));
    }
    Ok(f)
}

/// Seconds, as a script writes them, in ms.
fn time(p: &mut lexopt::Parser, flag: &str) -> Result<u64, SimError> {
    let v = string(p)?;
    parse_seconds(&v).map_err(|e| SimError::usage(format!("{flag}: {e}")))
}
