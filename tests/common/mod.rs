//! Shared helpers for the integration tests: a real `callrec agent` process on loopback, a
//! control client, an RTP sender, and temp directories.
//!
//! Synchronisation never sleeps blindly: the agent prints a ready line once its sockets are
//! bound, and it answers a control command only after every datagram that reached the tap
//! before the command (the main loop drains the tap first), so a command is a barrier.
//! Waiting for the agent's one-second commit timer polls a condition with an upper bound.

#![allow(dead_code)]

pub mod bins;
pub mod kamailio;
pub mod server;
pub mod web;
pub mod webdriver;

use callrec_core::control_protocol::{Response, Status};
use callrec_core::rtp::RtpPacket;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_callrec");

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("callrec-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How to start an agent.
pub struct AgentSpec {
    pub board: PathBuf,
    pub usb_dir: Option<PathBuf>,
    pub settings: Option<PathBuf>,
    pub socket: PathBuf,
    /// Wraps the agent's command line (e.g. `unshare -m … sh -c '… exec "$@"'`).
    pub wrapper: Vec<String>,
}

impl AgentSpec {
    /// The host board with the stick at `<dir>/stick` and the socket at `<dir>/ctl.sock`.
    pub fn host(dir: &Path) -> AgentSpec {
        let stick = dir.join("stick");
        std::fs::create_dir_all(&stick).unwrap();
        AgentSpec {
            board: Path::new(env!("CARGO_MANIFEST_DIR")).join("board/host.json"),
            usb_dir: Some(stick),
            settings: Some(dir.join("settings.json")),
            socket: dir.join("ctl.sock"),
            wrapper: Vec::new(),
        }
    }

    pub fn settings(self, json: &str) -> AgentSpec {
        std::fs::write(self.settings.as_ref().unwrap(), json).unwrap();
        self
    }
}

/// A running agent; killed when dropped.
pub struct Agent {
    pub child: Child,
    pub tap: SocketAddr,
    /// The agent's HTTP listener (action URLs).
    pub http: SocketAddr,
    pub socket: PathBuf,
    pub stderr_path: PathBuf,
}

impl Agent {
    pub fn start(spec: &AgentSpec) -> Agent {
        let stderr_path = spec.socket.with_extension("stderr");
        let mut args: Vec<String> = spec.wrapper.clone();
        args.push(BIN.into());
        args.extend([
            "agent".into(),
            "--board".into(),
            spec.board.display().to_string(),
        ]);
        args.extend(["--tap".into(), "127.0.0.1:0".into()]);
        args.extend(["--http".into(), "127.0.0.1:0".into()]);
        args.extend(["--control-socket".into(), spec.socket.display().to_string()]);
        if let Some(d) = &spec.usb_dir {
            args.extend(["--usb-dir".into(), d.display().to_string()]);
        }
        if let Some(s) = &spec.settings {
            args.extend(["--settings".into(), s.display().to_string()]);
        }
        let mut child = Command::new(&args[0])
            .args(&args[1..])
            .env("CALLREC_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        let field = |name: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("agent did not start: {line:?}\n{}", read(&stderr_path)))
                .parse()
                .unwrap()
        };
        let (tap, http) = (field("tap="), field("http="));
        // Keep draining stdout so the agent never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        Agent {
            child,
            tap,
            http,
            socket: spec.socket.clone(),
            stderr_path,
        }
    }

    /// Sends one control line and returns the parsed response.
    pub fn request(&self, line: &str) -> Response {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
        let mut answer = String::new();
        BufReader::new(s).read_line(&mut answer).unwrap();
        serde_json::from_str(answer.trim_end()).unwrap_or_else(|e| panic!("{e}: {answer:?}"))
    }

    pub fn cmd(&self, cmd: &str) -> Response {
        self.request(&format!("{{\"v\":1,\"cmd\":\"{cmd}\"}}"))
    }

    /// A command that must succeed.
    pub fn ok(&self, cmd: &str) -> Status {
        let r = self.cmd(cmd);
        assert!(r.ok, "{cmd} refused: {:?}\n{}", r.error, self.log());
        r.status.unwrap()
    }

    pub fn status(&self) -> Status {
        self.ok("status")
    }

    /// A call event, as the phone sends it; `extra` is more JSON for the call object.
    pub fn call(&self, event: &str, id: &str, extra: &str) -> Response {
        let sep = if extra.is_empty() { "" } else { "," };
        self.request(&format!(
            r#"{{"v":1,"cmd":"call","event":"{event}","call":{{"id":"{id}"{sep}{extra}}}}}"#
        ))
    }

    /// A key press.
    pub fn key(&self, key: &str) -> Response {
        self.request(&format!(r#"{{"v":1,"cmd":"key","key":"{key}"}}"#))
    }

    /// A subscription to the status events.
    pub fn watch(&self) -> Watch {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.write_all(b"{\"v\":1,\"cmd\":\"watch\"}\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reader = BufReader::new(s);
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let r: Response = serde_json::from_str(first.trim_end()).unwrap();
        assert!(r.ok, "{first}");
        Watch { reader }
    }

    /// Polls the status until `cond` holds; panics after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, cond: impl Fn(&Status) -> bool) -> Status {
        let start = Instant::now();
        loop {
            let s = self.status();
            if cond(&s) {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}: {s:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        read(&self.stderr_path)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// A subscriber to the agent's events.
pub struct Watch {
    pub reader: BufReader<UnixStream>,
}

impl Watch {
    /// The next event (fails after the 20 s read timeout, or at the end).
    pub fn next(&mut self) -> serde_json::Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("no event in time");
        assert!(n > 0, "the agent closed the subscription");
        serde_json::from_str(line.trim_end()).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Events until one matches `pred` (which is returned); the skipped ones are in `seen`.
    pub fn until(
        &mut self,
        seen: &mut Vec<serde_json::Value>,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        loop {
            let e = self.next();
            if pred(&e) {
                return e;
            }
            seen.push(e);
        }
    }

    /// Events until a `status` event with this `state`.
    pub fn status(&mut self, state: &str) -> serde_json::Value {
        self.until(&mut Vec::new(), |e| {
            e["event"] == "status" && e["state"] == state
        })
    }
}

/// Sends RTP to the tap.
pub struct Sender {
    pub socket: UdpSocket,
    pub to: SocketAddr,
    pub ssrc: u32,
    pub pt: u8,
}

impl Sender {
    pub fn new(to: SocketAddr) -> Sender {
        Sender {
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            to,
            ssrc: 0x5EED_0001,
            pt: 8,
        }
    }

    pub fn send(&self, seq: u16, ts: u32, payload: &[u8]) {
        let mut buf = [0u8; 1500];
        let n = RtpPacket::emit(&mut buf, false, self.pt, seq, ts, self.ssrc, payload).unwrap();
        self.socket.send_to(&buf[..n], self.to).unwrap();
    }

    pub fn raw(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.to).unwrap();
    }
}

/// The first file's path and bytes in a stick directory.
pub fn record_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Record_")
        })
        .collect();
    v.sort();
    v
}

/// Runs `callrec` with arguments and returns (status, stdout, stderr).
pub fn callrec(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The data bytes of a Record file (after the 76-byte header).
pub fn data_of(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()[76..].to_vec()
}

/// `callrec info --json` of a Record file, which must succeed.
pub fn info(path: &Path) -> serde_json::Value {
    let (ok, out, err) = callrec(&["info", "--json", path.to_str().unwrap()]);
    assert!(ok.success(), "{err}");
    serde_json::from_str(&out).unwrap()
}
