//! `callrec-sim`, the real binary: RTP into UDP sockets this test binds on port 0, and scripts
//! against a small fake agent on a Unix socket that records the request lines it gets.
//!
//! What the simulator sends is checked from the packets themselves (payload type, size,
//! sequence numbers, timestamps, SSRC), which do not depend on timing; the few timing checks
//! have wide margins for a busy machine.

use callrec_core::audio::g711::ulaw_to_linear;
use callrec_core::audio::g722::G722Decoder;
use callrec_core::control_protocol::{
    encode_call, encode_key, encode_request, parse_request, CallEvent, CallInfo, Command, Key,
    Response, Status,
};
use callrec_core::rtp::RtpPacket;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command as Process, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const SIM: &str = env!("CARGO_BIN_EXE_callrec-sim");

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("callrec-sim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One datagram as received.
#[derive(Debug, Clone)]
struct Rtp {
    at: Instant,
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn udp() -> (UdpSocket, String) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap().to_string();
    (s, addr)
}

/// What a run of the simulator gave.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    /// The datagrams each socket got, in arrival order.
    rtp: Vec<Vec<Rtp>>,
}

/// A command line: the words of `line`, then `more` (paths and addresses, kept whole).
fn argv(line: &str, more: &[&str]) -> Vec<String> {
    line.split_whitespace()
        .chain(more.iter().copied())
        .map(str::to_string)
        .collect()
}

/// Runs `callrec-sim` while every socket in `sockets` collects datagrams.
fn sim(args: &[String], sockets: Vec<UdpSocket>) -> Ran {
    let done = Arc::new(AtomicBool::new(false));
    let collectors: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            let done = done.clone();
            thread::spawn(move || collect(s, &done))
        })
        .collect();
    let out = Process::new(SIM)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // Loopback delivery is done by the time the sender has exited: whatever is still queued
    // is read before a collector sees a timeout and stops.
    done.store(true, Ordering::Relaxed);
    Ran {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        rtp: collectors.into_iter().map(|c| c.join().unwrap()).collect(),
    }
}

fn collect(socket: UdpSocket, done: &AtomicBool) -> Vec<Rtp> {
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                let p = RtpPacket::parse(&buf[..n]).expect("the simulator sends valid RTP");
                got.push(Rtp {
                    at: Instant::now(),
                    marker: p.marker,
                    pt: p.payload_type,
                    seq: p.sequence,
                    ts: p.timestamp,
                    ssrc: p.ssrc,
                    payload: p.payload.to_vec(),
                });
            }
            Err(_) if done.load(Ordering::Relaxed) => return got,
            Err(_) => {}
        }
    }
}

/// `sent N packets (M lost on purpose, K reordered)` as (N, M, K).
fn summary(stdout: &str) -> (u64, u64, u64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("sent "))
        .unwrap_or_else(|| panic!("no summary in {stdout:?}"));
    let n: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1], n[2])
}

/// Checks one stream: same SSRC and payload type and size, sequence numbers one apart and
/// timestamps `ticks` apart, in sending order.
fn check_continuous(rtp: &[Rtp], pt: u8, bytes: usize, ticks: u32) {
    for w in rtp.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence");
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), ticks, "timestamp");
        assert_eq!(w[1].ssrc, w[0].ssrc, "SSRC");
    }
    assert!(rtp.iter().all(|p| p.pt == pt && p.payload.len() == bytes));
}

#[test]
fn play_sends_paced_pcmu_with_continuous_sequence_and_timestamps() {
    let (socket, tap) = udp();
    let args = argv(
        "play --seconds 0.5 --ptime 10 --codec PCMU --sine 1000 --seed 7 --tap",
        &[&tap],
    );
    let ran = sim(&args, vec![socket]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let rtp = &ran.rtp[0];
    assert_eq!(rtp.len(), 50, "0.5 s of 10 ms packets");
    check_continuous(rtp, 0, 80, 80);
    let markers: Vec<bool> = rtp.iter().map(|p| p.marker).collect();
    assert!(markers[0] && !markers[1..].contains(&true));
    assert_eq!(summary(&ran.stdout), (50, 0, 0));
    // Paced, not sent in one burst: 49 packet times between the first and the last.
    let span = rtp[49].at - rtp[0].at;
    assert!(span >= Duration::from_millis(300), "{span:?}");
    // The tone: a quarter of full scale.
    let peak = rtp
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| ulaw_to_linear(b).unsigned_abs()))
        .max()
        .unwrap();
    assert!((7000..=9000).contains(&peak), "{peak}");
}

/// A RIFF WAV of 16-bit PCM.
fn wav(channels: u16, rate: u32, samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    v.extend_from_slice(&(2 * channels).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}

#[test]
fn play_a_stereo_wav_clip_as_g722() {
    let dir = TempDir::new("wav");
    // 0.2 s of 500 Hz at 44.1 kHz, the same on both channels; the call outlasts it (it loops).
    let samples: Vec<i16> = (0..8820)
        .flat_map(|n| {
            let s = (8000.0 * (std::f64::consts::TAU * 500.0 * n as f64 / 44_100.0).sin()) as i16;
            [s, s]
        })
        .collect();
    let clip = dir.join("clip.wav");
    std::fs::write(&clip, wav(2, 44_100, &samples)).unwrap();
    let (socket, tap) = udp();
    let wav = clip.to_str().unwrap();
    let args = argv(
        "play --seconds 0.3 --ptime 30 --codec G722 --tap",
        &[&tap, "--wav", wav],
    );
    let ran = sim(&args, vec![socket]);
    assert!(ran.status.success(), "{}", ran.stderr);
    let rtp = &ran.rtp[0];
    assert_eq!(rtp.len(), 10);
    // G.722: 16 kHz audio, but an 8000 Hz RTP clock and one byte per tick.
    check_continuous(rtp, 9, 240, 240);
    let bytes: Vec<u8> = rtp.iter().flat_map(|p| p.payload.clone()).collect();
    let mut pcm = vec![0i16; bytes.len() * 2];
    G722Decoder::new().decode(&bytes, &mut pcm);
    // 500 Hz at 16 kHz: 150 cycles in 0.3 s; count upward zero crossings after the first 30 ms.
    let crossings = pcm[480..]
        .windows(2)
        .filter(|w| w[0] < 0 && w[1] >= 0)
        .count();
    assert!((130..=140).contains(&crossings), "{crossings}");
}

#[test]
fn loss_and_reorder_are_repeatable_with_a_seed() {
    let runs: Vec<Ran> = thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let (socket, tap) = udp();
                    let line = "play --seconds 1 --ptime 10 --loss 0.2 --reorder 0.1 --seed 42";
                    sim(&argv(line, &["--tap", &tap]), vec![socket])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ran in &runs {
        assert!(ran.status.success(), "{}", ran.stderr);
        let rtp = &ran.rtp[0];
        let (sent, lost, reordered) = summary(&ran.stdout);
        assert_eq!(sent + lost, 100, "{}", ran.stdout);
        assert_eq!(rtp.len() as u64, sent);
        assert!((5..=40).contains(&lost), "{lost}");
        assert!(reordered > 0);
        // Sequence numbers relative to the packet with the earliest timestamp received.
        let first_ts = rtp.iter().map(|p| p.ts).min().unwrap();
        let base = rtp.iter().find(|p| p.ts == first_ts).unwrap().seq;
        let offsets: Vec<i32> = rtp
            .iter()
            .map(|p| i32::from(p.seq.wrapping_sub(base)))
            .collect();
        let inversions = offsets.windows(2).filter(|w| w[1] < w[0]).count() as u64;
        assert_eq!(inversions, reordered);
        // Timestamps follow the sequence numbers: a lost packet leaves a gap in both.
        for p in rtp {
            let offset = u32::from(p.seq.wrapping_sub(base));
            assert_eq!(p.ts.wrapping_sub(first_ts), offset * 80);
        }
        let mut sorted = offsets.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), offsets.len(), "no duplicates");
    }
    let key = |r: &Ran| -> Vec<(u16, u32, u32)> {
        r.rtp[0].iter().map(|p| (p.seq, p.ts, p.ssrc)).collect()
    };
    assert_eq!(
        key(&runs[0]),
        key(&runs[1]),
        "the same seed, the same packets"
    );
    assert_eq!(runs[0].stdout, runs[1].stdout);
}

/// A stand-in for the agent's control socket: records every request line with its arrival
/// time and answers like the agent (a key press before `answered` is refused `no_call`;
/// `watch` is answered and followed by one event).
struct FakeAgent {
    path: PathBuf,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl FakeAgent {
    fn start(path: PathBuf) -> FakeAgent {
        let listener = UnixListener::bind(&path).unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicBool::new(false));
        let (log, flag) = (lines.clone(), answered.clone());
        // Blocks in accept for the rest of the test process; nothing to clean up.
        thread::spawn(move || {
            for conn in listener.incoming() {
                let (log, flag) = (log.clone(), flag.clone());
                thread::spawn(move || serve(conn.unwrap(), &log, &flag));
            }
        });
        FakeAgent { path, lines }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }
}

fn serve(conn: UnixStream, log: &Mutex<Vec<(Instant, String)>>, answered: &AtomicBool) {
    let mut out = conn.try_clone().unwrap();
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        log.lock().unwrap().push((Instant::now(), line.clone()));
        let request = parse_request(line.as_bytes()).expect("the simulator sends valid requests");
        let mut status = Status {
            state: "idle".into(),
            mode: "local".into(),
            tap: "127.0.0.1:50200".into(),
            ..Status::default()
        };
        let watch = request.command == Command::Watch;
        let answer = match request.command {
            Command::Key(_) if !answered.load(Ordering::Relaxed) => {
                Response::error(None, "no_call", "no call is up".into(), Some(status))
            }
            command => {
                match command {
                    Command::Call {
                        event: CallEvent::Answered,
                        ..
                    } => answered.store(true, Ordering::Relaxed),
                    Command::Call {
                        event: CallEvent::Ended,
                        ..
                    } => answered.store(false, Ordering::Relaxed),
                    Command::Key(Key::Record) => {
                        status.state = "recording".into();
                        status.file = Some("Record_sim.wav".into());
                    }
                    _ => {}
                }
                Response::ok(None, status)
            }
        };
        if out.write_all(answer.encode().as_bytes()).is_err() {
            return;
        }
        if watch {
            let event = "{\"v\":1,\"event\":\"status\",\"seq\":1,\"state\":\"idle\"}\n";
            let _ = out.write_all(event.as_bytes());
        }
    }
}

#[test]
fn a_script_drives_the_call_and_rtp_flows_only_while_answered_and_not_held() {
    let dir = TempDir::new("run");
    let agent = FakeAgent::start(dir.join("ctl.sock"));
    let (call_socket, call_addr) = udp();
    let call_port: u16 = call_addr.parse::<SocketAddr>().unwrap().port();
    let (tap_socket, tap) = udp();
    let script = format!(
        "# the call's RTP goes to its own port, not the board's tap\n\
         0.0 call started id=c1 dir=out remote=1002 remote_name=\"Bob Smith\" codec=PCMU tap_port={call_port}\n\
         0.1 key record   # refused: no call is answered yet\n\
         0.2 call answered id=c1\n\
         0.3 key record\n\
         0.5 call held id=c1\n\
         0.9 call resumed id=c1\n\
         1.2 call ended id=c1\n"
    );
    let path = dir.join("call.script");
    std::fs::write(&path, script).unwrap();
    let script = path.to_str().unwrap();
    let args = argv(
        "run --watch --seed 5 --tap",
        &[&tap, "--control-socket", agent.path(), script],
    );
    let started = Instant::now();
    let ran = sim(&args, vec![call_socket, tap_socket]);
    assert!(ran.status.success(), "{}\n{}", ran.stdout, ran.stderr);

    // The exact requests, in order, as the library encodes them.
    let c1 = CallInfo {
        id: Some("c1".into()),
        ..CallInfo::default()
    };
    let first = CallInfo {
        dir: Some(callrec_core::direction::Direction::Out),
        remote_number: "1002".into(),
        remote_name: "Bob Smith".into(),
        codec: Some(callrec_core::codec::Codec::Pcmu),
        tap_port: Some(call_port),
        ..c1.clone()
    };
    let expected = [
        encode_call(CallEvent::Started, &first),
        encode_key(Key::Record),
        encode_call(CallEvent::Answered, &c1),
        encode_key(Key::Record),
        encode_call(CallEvent::Held, &c1),
        encode_call(CallEvent::Resumed, &c1),
        encode_call(CallEvent::Ended, &c1),
    ];
    let watch = encode_request(&Command::Watch);
    let lines = agent.lines();
    let (watches, steps): (Vec<_>, Vec<_>) =
        lines.iter().partition(|(_, l)| format!("{l}\n") == watch);
    assert_eq!(watches.len(), 1);
    let sent: Vec<String> = steps.iter().map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(sent, expected);

    // One line per step with the answer, the watched event, the summary.
    let out = &ran.stdout;
    assert!(
        out.contains("  0.100 key record -> refused no_call: no call is up\n"),
        "{out}"
    );
    assert!(
        out.contains("  0.300 key record -> ok recording Record_sim.wav\n"),
        "{out}"
    );
    assert!(out.contains(
        "  0.000 call started id=c1 dir=out remote=1002 remote_name=\"Bob Smith\" codec=PCMU \
         tap_port="
    ));
    assert!(
        out.contains("  1.200 call ended id=c1 -> ok idle\n"),
        "{out}"
    );
    assert!(out.contains("event {\"v\":1,\"event\":\"status\",\"seq\":1,\"state\":\"idle\"}\n"));
    assert_eq!(summary(out), (30, 0, 0));

    // RTP: nothing to the board's tap; to the call's port, 0.2–0.5 s and 0.9–1.2 s of 20 ms
    // packets, one stream whose sequence goes on across the hold while the timestamp jumps.
    assert!(ran.rtp[1].is_empty());
    let rtp = &ran.rtp[0];
    assert_eq!(rtp.len(), 30);
    check_continuous(&rtp[..15], 0, 160, 160);
    check_continuous(&rtp[15..], 0, 160, 160);
    assert_eq!(rtp[15].seq, rtp[14].seq.wrapping_add(1));
    assert_eq!(rtp[15].ssrc, rtp[14].ssrc);
    assert_eq!(rtp[15].ts.wrapping_sub(rtp[14].ts), (45 - 24) * 160);
    let markers: Vec<usize> = (0..30).filter(|&i| rtp[i].marker).collect();
    assert_eq!(markers, [0, 15]);

    // Loose timing: the audio starts about when `answered` is sent, pauses about 0.4 s for the
    // hold, and ends about when `ended` is sent.
    let arrival = |prefix: &str| {
        steps
            .iter()
            .find(|(_, l)| l.contains(prefix))
            .map(|(at, _)| *at)
            .unwrap()
    };
    let (answered, ended) = (arrival("\"answered\""), arrival("\"ended\""));
    let margin = Duration::from_millis(300);
    assert!(rtp[0].at + margin >= answered);
    assert!(rtp[29].at <= ended + margin);
    let hold_gap = rtp[15].at - rtp[14].at;
    assert!(hold_gap >= Duration::from_millis(150), "{hold_gap:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn strict_refusals_and_an_unreachable_agent_exit_1() {
    let dir = TempDir::new("strict");
    let agent = FakeAgent::start(dir.join("ctl.sock"));
    let path = dir.join("key.script");
    std::fs::write(&path, "0 key record\n0 status\n").unwrap();
    let script = path.to_str().unwrap();
    let run = |line: &str, socket: &str| {
        sim(
            &argv(line, &["--control-socket", socket, script]),
            Vec::new(),
        )
    };

    let ran = run("run --tap 127.0.0.1:9", agent.path());
    assert!(ran.status.success(), "a refusal alone is not a failure");
    assert!(ran.stdout.contains("-> refused no_call"));
    assert!(
        ran.stdout.contains("  0.000 status -> ok idle\n"),
        "{}",
        ran.stdout
    );

    let ran = run("run --tap 127.0.0.1:9 --strict", agent.path());
    assert_eq!(ran.status.code(), Some(1));
    assert!(ran.stderr.contains("refused 1 step"), "{}", ran.stderr);

    let missing = dir.join("nobody.sock");
    let ran = run("run --tap 127.0.0.1:9", missing.to_str().unwrap());
    assert_eq!(ran.status.code(), Some(1));
    assert!(
        ran.stderr.contains("cannot reach the agent"),
        "{}",
        ran.stderr
    );
}

#[test]
fn bad_input_exits_2_and_sends_nothing() {
    let dir = TempDir::new("bad");
    let agent = FakeAgent::start(dir.join("ctl.sock"));
    let (socket, tap) = udp();

    let script = dir.join("bad.script");
    std::fs::write(
        &script,
        "0 call started id=c1\n0.5 call answered id=c1\n0.2 key record\n",
    )
    .unwrap();
    let junk = dir.join("junk.wav");
    std::fs::write(&junk, b"RIFF\x04\x00\x00\x00WAVEdata").unwrap();
    let (script, junk) = (script.to_str().unwrap(), junk.to_str().unwrap());
    let cases = [
        (
            argv("run --control-socket", &[agent.path(), script]),
            "line 3: time 0.200 is before the previous step's 0.500",
        ),
        (
            argv("play --seconds 1 --wav", &[junk]),
            "junk.wav: malformed WAV: no complete \"fmt \" chunk",
        ),
        (argv("play --seconds 1 --ptime 70", &[]), "--ptime 70"),
        (argv("play --seconds 1 --loss 1.5", &[]), "--loss"),
        (
            argv("play --seconds 1 --sine 1 --wav x", &[]),
            "one or the other",
        ),
        (argv("play --seconds 0", &[]), "above 0"),
        (argv("call --answer-at 1", &[]), "--hangup-at"),
        (argv("call --hangup-at soon", &[]), "not a time"),
        (
            argv("call --hangup-at 2 --dir up", &[]),
            "--dir \"up\": in or out",
        ),
        (argv("dance", &[]), "unknown command"),
    ];
    for (mut args, want) in cases {
        args.extend(["--tap".to_string(), tap.clone()]);
        let out = Process::new(SIM).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(agent.lines().is_empty(), "nothing reached the agent");
    socket.set_nonblocking(true).unwrap();
    assert!(socket.recv(&mut [0u8; 64]).is_err(), "no RTP was sent");
}

#[test]
fn call_flags_make_a_script() {
    let line = "call --id x1 --dir in --remote 1002 --record-at 1 --hold-at 2 --unhold-at 2.5 \
                --hangup-at 3 --codec g722 --dry-run --remote-name";
    let out = Process::new(SIM)
        .args(argv(line, &["Bob Smith"]))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0.000 call started id=x1 dir=in remote=1002 remote_name=\"Bob Smith\" codec=G722\n\
         0.500 call answered id=x1\n\
         1.000 key record\n\
         2.000 call held id=x1\n\
         2.500 call resumed id=x1\n\
         3.000 call ended id=x1\n"
    );
    // The printed script runs as it is (here only checked, with --dry-run, from stdin).
    let mut child = Process::new(SIM)
        .args(["run", "-", "--dry-run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    let mut again = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut again)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(again, out.stdout);
    let help = Process::new(SIM).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("callrec-sim run SCRIPT"));
}
