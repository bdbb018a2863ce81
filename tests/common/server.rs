//! A real `callrec-server` process for the tests, and a raw control connection to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub child: Child,
    pub control: SocketAddr,
    pub storage: PathBuf,
    /// The web side's address, when started with `--http`.
    pub http: Option<SocketAddr>,
    /// The unauthenticated `/metrics` listener's address, when started with `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// With `--http`: an API token of an admin and supervisor of every group, made on the
    /// console before the start (the web side answers nothing without one).
    pub token: Option<String>,
}

/// The tokens of the servers started, by their web side's address.
static TOKENS: std::sync::Mutex<Vec<(SocketAddr, String)>> = std::sync::Mutex::new(Vec::new());

/// The token made for the server whose web side is at `http` (see [`Server::token`]).
pub fn token_of(http: SocketAddr) -> Option<String> {
    let tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
    tokens
        .iter()
        .find(|(a, _)| *a == http)
        .map(|(_, t)| t.clone())
}

/// `callrec-server user add` on `storage` (and `catalog`, if given) with `password` on
/// standard input: exit code and stderr.
pub fn add_user(
    storage: &Path,
    catalog: Option<&str>,
    name: &str,
    roles: &str,
    groups: Option<&str>,
    password: &str,
) -> (i32, String) {
    add_user_via(&[], storage, catalog, name, roles, groups, password)
}

/// `callrec-server`, run through `via` (a command that ends by running its arguments, such as
/// `nsenter` into a server's mount namespace) if it is not empty.
fn server_command(via: &[String]) -> Command {
    match via.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(super::bins::server());
            cmd
        }
        None => Command::new(super::bins::server()),
    }
}

fn add_user_via(
    via: &[String],
    storage: &Path,
    catalog: Option<&str>,
    name: &str,
    roles: &str,
    groups: Option<&str>,
    password: &str,
) -> (i32, String) {
    let mut cmd = server_command(via);
    cmd.args(["user", "add", "--storage", storage.to_str().unwrap(), name])
        .args(["--role", roles, "--password-stdin"]);
    if let Some(c) = catalog {
        cmd.args(["--catalog", c]);
    }
    if let Some(g) = groups {
        cmd.args(["--groups", g]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `callrec-server token add` for admin `by`: the token printed.
pub fn add_token(
    storage: &Path,
    catalog: Option<&str>,
    by: &str,
    roles: &str,
    groups: Option<&str>,
) -> Result<String, String> {
    add_token_via(&[], storage, catalog, by, roles, groups)
}

fn add_token_via(
    via: &[String],
    storage: &Path,
    catalog: Option<&str>,
    by: &str,
    roles: &str,
    groups: Option<&str>,
) -> Result<String, String> {
    let mut args = vec![
        "add",
        "--storage",
        storage.to_str().unwrap(),
        "--by",
        by,
        "--name",
        "test",
        "--role",
        roles,
    ];
    if let Some(c) = catalog {
        args.extend(["--catalog", c]);
    }
    if let Some(g) = groups {
        args.extend(["--groups", g]);
    }
    let (code, out, err) = console_via(via, "token", &args);
    if code == 0 {
        Ok(out.trim().to_string())
    } else {
        Err(format!("token add: {code}: {err}"))
    }
}

/// The admin and its token that [`Server::spawn`] makes for a web side.
fn test_token(storage: &Path, extra: &[&str]) -> String {
    std::fs::create_dir_all(storage).unwrap();
    test_token_via(&[], storage, extra)
}

/// [`test_token`] with the console run through `via`, on `storage` as `via` sees it.
fn test_token_via(via: &[String], storage: &Path, extra: &[&str]) -> String {
    let catalog = extra
        .iter()
        .position(|a| *a == "--catalog")
        .and_then(|i| extra.get(i + 1))
        .copied();
    let (code, err) = add_user_via(
        via,
        storage,
        catalog,
        "test-admin",
        "admin,supervisor",
        None,
        "the tests' admin password",
    );
    assert!(
        code == 0 || err.contains("exists"),
        "user add: {code}: {err}"
    );
    add_token_via(
        via,
        storage,
        catalog,
        "test-admin",
        "admin,supervisor",
        None,
    )
    .unwrap()
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_at(&dir.join("recordings"), dir, extra)
    }

    /// A server on the given storage (a restart keeps its recordings).
    pub fn start_at(storage: &Path, dir: &Path, extra: &[&str]) -> Server {
        Server::spawn(storage, dir, extra, &[])
    }

    /// A server whose storage (`dir/recordings`) is a tmpfs of `size` (`mount -o size=`) in a
    /// mount namespace of its own (`unshare -m`, root only), so that a test can fill a real file
    /// system without touching the machine's. `storage` is then that folder as seen from outside
    /// (`/proc/PID/root/…`), where the test reads and writes it.
    pub fn start_on_tmpfs(dir: &Path, size: &str, extra: &[&str]) -> Server {
        let storage = dir.join("recordings");
        std::fs::create_dir_all(&storage).unwrap();
        let wrapper = [
            "unshare".to_owned(),
            "-m".into(),
            "--propagation".into(),
            "private".into(),
            "sh".into(),
            "-c".into(),
            format!(
                "mount -t tmpfs -o size={size} tmpfs '{}' && exec \"$@\"",
                storage.display()
            ),
            "sh".into(),
        ];
        let mut server = Server::spawn(&storage, dir, extra, &wrapper);
        // unshare and sh exec the server: its pid is theirs.
        server.storage = PathBuf::from(format!(
            "/proc/{}/root{}",
            server.child.id(),
            storage.display()
        ));
        // The catalog is on the tmpfs: the token is made there, once the server runs, by a
        // console inside the server's mount namespace (SQLite resolves the symbolic link of
        // /proc/PID/root, so that path would reach the folder under the tmpfs instead).
        if let Some(http) = server.http {
            let via = [
                "nsenter".to_owned(),
                "--target".into(),
                server.child.id().to_string(),
                "--mount".into(),
                "--".into(),
            ];
            let token = test_token_via(&via, &storage, extra);
            let mut tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
            tokens.push((http, token.clone()));
            server.token = Some(token);
        }
        server
    }

    /// The server's command line, run through `wrapper` (a command that ends by running its
    /// arguments) if it is not empty.
    fn spawn(storage: &Path, dir: &Path, extra: &[&str], wrapper: &[String]) -> Server {
        let storage = storage.to_owned();
        let token =
            (extra.contains(&"--http") && wrapper.is_empty()).then(|| test_token(&storage, extra));
        let mut cmd = server_command(wrapper);
        let mut child = cmd
            .args([
                "--listen",
                "127.0.0.1:0",
                "--storage",
                storage.to_str().unwrap(),
            ])
            .args(["--rtp-ports", &ports()])
            // An installed package's /etc/callrec-server/config.toml would be read otherwise.
            .args(if extra.contains(&"--config") {
                &[][..]
            } else {
                &["--config", "/dev/null"][..]
            })
            .args(extra)
            .env("CALLREC_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).unwrap();
        let control = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("control="))
            .unwrap_or_else(|| panic!("server did not start: {line:?}"))
            .parse()
            .unwrap();
        let http = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .map(|a| a.parse().unwrap());
        let metrics = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("metrics="))
            .map(|a| a.parse().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        if let (Some(addr), Some(t)) = (http, &token) {
            let mut tokens = TOKENS.lock().unwrap_or_else(|e| e.into_inner());
            tokens.push((addr, t.clone()));
        }
        Server {
            child,
            control,
            storage,
            http,
            metrics,
            token,
        }
    }

    pub fn connect(&self) -> Conn {
        Conn::of(TcpStream::connect(self.control).unwrap())
    }

    /// A finished call recorded as a phone records it: a start of session `id` from `device`
    /// (incoming, PCMA) with the further `fields` (`&remote_number=…`, or empty), `packets` 20 ms
    /// RTP packets of `payload(seq)` (a pause of 200 ms after every 10, so the server files
    /// them as they come), then a stop (hangup).
    pub fn record_call(
        &self,
        id: &str,
        device: &str,
        fields: &str,
        packets: u16,
        payload: impl Fn(u16) -> [u8; 160],
    ) {
        use callrec_core::rtp::RtpPacket;
        let mut conn = self.connect();
        conn.send(
            format!("cmd=RecordStartRequest&id={id}&device={device}&dir=in&codec=PCMA{fields}\n")
                .as_bytes(),
        );
        let resp = conn.line();
        assert_eq!(get(&resp, "result"), Some("success"), "{resp}");
        let to: SocketAddr = format!(
            "{}:{}",
            get(&resp, "server").unwrap(),
            get(&resp, "port").unwrap()
        )
        .parse()
        .unwrap();
        let phone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut pkt = [0u8; 172];
        for seq in 0..packets {
            let ts = u32::from(seq) * 160;
            let n = RtpPacket::emit(&mut pkt, seq == 0, 8, seq, ts, 7, &payload(seq)).unwrap();
            phone.send_to(&pkt[..n], to).unwrap();
            if seq % 10 == 9 || seq + 1 == packets {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        conn.send(format!("cmd=RecordStopRequest&id={id}&reason=hangup\n").as_bytes());
        let resp = conn.line();
        assert_eq!(get(&resp, "result"), Some("success"), "{resp}");
    }

    /// A control connection from `source` (port 0), such as another loopback address
    /// (`127.0.0.2`) than the server's own.
    pub fn connect_from(&self, source: std::net::IpAddr) -> Conn {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::for_address(self.control), Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::new(source, 0).into()).unwrap();
        s.connect(&self.control.into()).unwrap();
        Conn::of(s.into())
    }

    pub fn sidecars(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for day in self.day_dirs() {
            for f in std::fs::read_dir(day).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "json") {
                    out.push(serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap());
                }
            }
        }
        out
    }

    /// The storage's day folders (beside them: the catalog's SQLite files).
    pub fn day_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.storage)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect()
    }

    pub fn day_dir(&self) -> PathBuf {
        self.day_dirs().into_iter().next().expect("a day folder")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A range of 200 ports unlikely to clash between parallel tests (by process id and a counter).
fn ports() -> String {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let k = NEXT.fetch_add(1, Ordering::Relaxed);
    let base = 20_000 + (std::process::id() as u16 % 100) * 200 + k * 2_000 % 20_000;
    format!("{base}-{}", base + 199)
}

pub struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn of(s: TcpStream) -> Conn {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            reader: BufReader::new(s.try_clone().unwrap()),
            stream: s,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends `bytes` to a server that may have closed the connection already; false if the
    /// write failed.
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        l
    }

    /// True if the server closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }

    /// True if the server closes the connection (end of stream or reset) within `limit`; false
    /// if it sends something or stays silent that long.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.stream.set_read_timeout(Some(limit)).unwrap();
        let mut b = [0u8; 1];
        let r = self.reader.read(&mut b);
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        match r {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// `callrec-server COMMAND ARGS` run to its end: exit code, stdout, stderr.
pub fn console(command: &str, args: &[&str]) -> (i32, String, String) {
    console_via(&[], command, args)
}

fn console_via(via: &[String], command: &str, args: &[&str]) -> (i32, String, String) {
    let out = server_command(via)
        .arg(command)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn get<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.trim_end()
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

impl Server {
    /// Retries `f` a bounded number of times (the server ends a dropped session on its next
    /// 100 ms cycle); `None` if it never succeeded.
    pub fn wait<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
        for _ in 0..100 {
            if let Some(t) = f() {
                return Some(t);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
