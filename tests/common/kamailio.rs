//! A real SIP server for the tests: Kamailio (Debian's package) with `tests/kamailio/record.cfg`,
//! a tiny PBX that answers INVITE, ACK, BYE and the `Record: on|off` INFO as a recording PBX
//! does, and logs one line per request (`callrec-pbx: INFO call-id=… cseq=2 record="on" … -> 200
//! OK`).
//!
//! Each test gets its own Kamailio on a free loopback UDP port, with its runtime directory, pid
//! file and log in the test's directory, in its own process group (so parallel tests never
//! clash and nothing outlives the test). It is ready when it answers an OPTIONS (any response);
//! no blind sleeps. Kamailio missing is a failure, never a skip: `scripts/setup` installs it.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The configuration, in the source tree.
pub const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kamailio/record.cfg");
/// How long Kamailio gets to answer its first OPTIONS.
const READY_LIMIT: Duration = Duration::from_secs(10);
/// Ports tried (a port picked free can be taken before Kamailio binds it).
const ATTEMPTS: usize = 5;

/// A running Kamailio; stopped (its whole process group) when dropped.
pub struct Kamailio {
    child: Child,
    /// Where it listens: `127.0.0.1:PORT`, UDP.
    pub addr: SocketAddr,
    log_path: PathBuf,
}

impl Kamailio {
    /// Starts one with its files under `dir/kamailio/`; panics if it does not come up.
    pub fn start(dir: &Path) -> Kamailio {
        let bin = binary();
        let run = dir.join("kamailio");
        std::fs::create_dir_all(&run).unwrap();
        let log_path = run.join("kamailio.log");
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            let port = free_udp_port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut cmd = Command::new(&bin);
            cmd.args(["-f", CONFIG])
                .args(["-l", &format!("udp:{addr}")])
                // Foreground, log to stderr, one worker, small memory, no TCP or SCTP.
                .args(["-DD", "-E", "-n", "1", "-m", "16", "-M", "4", "-T", "-S"])
                .arg("-Y")
                .arg(&run)
                .arg("-P")
                .arg(run.join("kamailio.pid"))
                .arg("-w")
                .arg(&run)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log_path).unwrap())
                // Its own process group: Drop stops the workers too.
                .process_group(0);
            if let Ok(modules) = std::env::var("KAMAILIO_MODULES") {
                cmd.args(["-L", &modules]);
            }
            // As root it drops to an unprivileged user; as anyone else it needs nothing.
            if unsafe { libc::geteuid() } == 0 && user_exists("nobody") && group_exists("nogroup") {
                cmd.args(["-u", "nobody", "-g", "nogroup"]);
            }
            let child = cmd.spawn().unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (run scripts/setup to install kamailio)",
                    bin.display()
                )
            });
            let mut k = Kamailio {
                child,
                addr,
                log_path: log_path.clone(),
            };
            match k.wait_ready() {
                Ok(()) => return k,
                // It exited (most likely the port was taken): try another port.
                Err(Some(_)) => last_log = k.log(),
                Err(None) => panic!(
                    "kamailio did not answer OPTIONS on {addr} within {} s\n{}",
                    READY_LIMIT.as_secs(),
                    k.log()
                ),
            }
        }
        panic!("kamailio did not start ({ATTEMPTS} ports tried); its last log:\n{last_log}");
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The request lines of its log (`INFO call-id=… -> 200 OK`), without the log prefix.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once("callrec-pbx: ").map(|(_, r)| r.to_string()))
            .collect()
    }

    /// Waits until a request line containing every one of `words` is logged (bounded: a
    /// request is logged before it is answered, so this rarely waits at all).
    pub fn wait_request(&self, words: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self
                .requests()
                .into_iter()
                .find(|l| words.iter().all(|w| l.contains(w)))
            {
                return l;
            }
            assert!(
                start.elapsed() < limit,
                "kamailio logged no request with {words:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends OPTIONS until any response comes. `Err(Some(status))` if it exited, `Err(None)`
    /// if it stayed silent.
    fn wait_ready(&mut self) -> Result<(), Option<std::process::ExitStatus>> {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let me = socket.local_addr().unwrap();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < READY_LIMIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Some(status));
            }
            n += 1;
            let options = format!(
                "OPTIONS sip:ping@{to} SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {me};branch=z9hG4bKready{n}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:harness@{me}>;tag=ready\r\n\
                 To: <sip:ping@{to}>\r\n\
                 Call-ID: ready-{n}@{me}\r\n\
                 CSeq: {n} OPTIONS\r\n\
                 Content-Length: 0\r\n\r\n",
                to = self.addr
            );
            let _ = socket.send_to(options.as_bytes(), self.addr);
            let mut buf = [0u8; 4096];
            match socket.recv_from(&mut buf) {
                Ok((len, from)) if from == self.addr && buf[..len].starts_with(b"SIP/2.0 ") => {
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // ICMP port unreachable before it binds.
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Err(None)
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SIGTERM lets the main process stop its workers; SIGKILL the group if it lingers.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                unsafe { libc::kill(group, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// `kamailio` from `$KAMAILIO`, the PATH, or /usr/sbin (not on a normal user's PATH);
/// panics, naming scripts/setup, if there is none.
fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("KAMAILIO") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("kamailio"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("kamailio is not installed: run scripts/setup (it installs Debian's kamailio)")
    })
}

/// A UDP port free a moment ago on 127.0.0.1.
fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

fn user_exists(name: &str) -> bool {
    let c = std::ffi::CString::new(name).unwrap();
    !unsafe { libc::getpwnam(c.as_ptr()) }.is_null()
}

fn group_exists(name: &str) -> bool {
    let c = std::ffi::CString::new(name).unwrap();
    !unsafe { libc::getgrnam(c.as_ptr()) }.is_null()
}

/// A minimal SIP user agent on a loopback UDP socket, for talking to Kamailio in tests
/// without the crate's parser: it sends a request and returns the first final response's
/// raw text.
pub struct RawUa {
    pub socket: UdpSocket,
    pub addr: SocketAddr,
}

impl Default for RawUa {
    fn default() -> Self {
        Self::new()
    }
}

impl RawUa {
    pub fn new() -> RawUa {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        RawUa { socket, addr }
    }

    /// Sends `request` to `to` (again every 500 ms, as Timer E would, up to 5 s) and returns
    /// the final response; 1xx are skipped.
    pub fn exchange(&self, to: SocketAddr, request: &str) -> String {
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no final response to:\n{request}"
            );
            self.socket.send_to(request.as_bytes(), to).unwrap();
            let mut buf = [0u8; 65_536];
            while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if from == to && status_code(&text).is_some_and(|c| c >= 200) {
                    return text;
                }
            }
        }
    }

    /// Sends without waiting (an ACK).
    pub fn send(&self, to: SocketAddr, request: &str) {
        self.socket.send_to(request.as_bytes(), to).unwrap();
    }
}

/// The status code of a response's first line, `SIP/2.0 200 OK` → 200.
pub fn status_code(response: &str) -> Option<u16> {
    let first = response.lines().next()?;
    let mut words = first.split(' ');
    if words.next()? != "SIP/2.0" {
        return None;
    }
    words.next()?.parse().ok()
}

/// The value of a header in a raw message (first match, case-insensitive name; long form only).
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message
        .split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

/// The `tag` parameter of a From or To value.
pub fn tag(value: &str) -> Option<&str> {
    value
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("tag="))
}
