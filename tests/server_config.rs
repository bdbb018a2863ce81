//! The record server's configuration file (`--config FILE`; `/etc/callrec-server/config.toml`
//! by default) against the real `callrec-server`: its keys are the flags, the command line's
//! flags override them (a repeatable one replaces the file's list), and an unknown key, a bad
//! value, bad TOML or a missing named file stop the start with exit status 2 and a message
//! naming the file, the line and the key.

mod common;
use common::server::get;
use common::TempDir;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Running {
    child: Child,
    control: SocketAddr,
    http: Option<SocketAddr>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server(args: &[&str]) -> Command {
    let mut c = Command::new(common::bins::server());
    c.args(args).env("CALLREC_LOG", "debug");
    c
}

/// Starts the server with `args` only; its addresses from the ready line.
fn run(dir: &Path, args: &[&str]) -> Running {
    let mut child = server(args)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|a| a.parse().unwrap())
    };
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    Running {
        control: addr("control=").unwrap_or_else(|| panic!("not started: {line:?} {log}")),
        http: addr("http="),
        child,
    }
}

/// Runs the server with `args` to its end: exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = server(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn start(c: &mut TcpStream, id: &str, device: &str) -> String {
    use std::io::Write;
    let line = format!(
        "cmd=RecordStartRequest&id={id}&device={device}&remote_number=1002\
         &local_number=1001&dir=in&codec=PCMA\n"
    );
    // A connection closed unread may be reset: that reads as nothing.
    let _ = c.write_all(line.as_bytes());
    let mut answer = String::new();
    let _ = BufReader::new(c.try_clone().unwrap()).read_line(&mut answer);
    answer
}

#[test]
fn the_file_gives_the_flags_and_the_command_line_overrides_them() {
    let dir = TempDir::new("server-config");
    let storage = dir.path().join("from-the-file");
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "# the server's settings\n\
             listen = \"127.0.0.1:0\"\n\
             storage = \"{}\"\n\
             rtp-ports = \"31000-31099\"\n\
             max-sessions-per-address = 1\n\
             known-devices-only = false\n\
             # only from far away: the command line's --allow replaces it\n\
             allow = [\"192.0.2.0/24\", \"198.51.100.0/24\"]\n\
             http = \"127.0.0.1:1\"\n\
             reserve = 1\n",
            storage.display()
        ),
    )
    .unwrap();
    let cfg = file.to_str().unwrap();
    // The file alone: its --allow keeps loopback out (the connection is closed unread).
    let s = run(dir.path(), &["--config", cfg, "--http", "127.0.0.1:0"]);
    assert!(
        storage.join(".callrec-server.lock").exists(),
        "the file's storage"
    );
    let mut c = TcpStream::connect(s.control).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(
        start(&mut c, "a1", "00:15:65:00:00:01"),
        "",
        "closed unread"
    );
    // The flag's --http replaced the file's port 1.
    assert_ne!(s.http.unwrap().port(), 1);
    drop(s);

    // --allow on the command line replaces the file's list; the file's other keys stay.
    let s = run(
        dir.path(),
        &[
            "--config",
            cfg,
            "--allow",
            "127.0.0.0/8",
            "--http=127.0.0.1:0",
        ],
    );
    let mut c = TcpStream::connect(s.control).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let a = start(&mut c, "a1", "00:15:65:00:00:01");
    assert_eq!(get(&a, "result"), Some("success"), "{a}");
    let port: u16 = get(&a, "port").unwrap().parse().unwrap();
    assert!(
        (31_000..=31_099).contains(&port),
        "the file's rtp-ports: {port}"
    );
    // max-sessions-per-address = 1, from the file.
    let mut d = TcpStream::connect(s.control).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let b = start(&mut d, "b1", "00:15:65:00:00:02");
    assert_eq!(get(&b, "reason"), Some("address_limit"), "{b}");
    drop(s);

    // A flag given twice in effect (file, then command line): the command line's wins.
    let other = dir.path().join("from-the-flag");
    let s = run(
        dir.path(),
        &[
            "--config",
            cfg,
            "--storage",
            other.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
        ],
    );
    assert!(
        other.join(".callrec-server.lock").exists(),
        "the flag's storage"
    );
    drop(s);
}

#[test]
fn a_bad_file_stops_the_start_naming_the_file_the_line_and_the_key() {
    let dir = TempDir::new("server-config-bad");
    let file = dir.path().join("config.toml");
    let cfg = file.to_str().unwrap();
    let storage = format!("storage = \"{}\"\n", dir.path().join("s").display());
    for (text, want) in [
        (
            format!("listen = \"127.0.0.1:0\"\n{storage}max-sesions = 10\n"),
            "line 3: max-sesions: no such setting".to_string(),
        ),
        (
            format!("listen = \"127.0.0.1:0\"\n{storage}\nmax-sessions = \"many\"\n"),
            "line 4: max-sessions: bad --max-sessions".to_string(),
        ),
        (
            format!("{storage}listen = \"nowhere\"\n"),
            "line 2: listen: bad --listen".to_string(),
        ),
        (
            format!("{storage}listen = \"127.0.0.1:0\"\nknown-devices-only = \"yes\"\n"),
            "line 3: known-devices-only: ".to_string(),
        ),
        (
            format!("{storage}listen = \"127.0.0.1:0\"\nhttp-name = \"a\"\nhttp-name = \"b\"\n"),
            "line 4".to_string(),
        ),
        (
            format!("{storage}listen = \"127.0.0.1:0\"\n[web]\nhttp = \"127.0.0.1:0\"\n"),
            "line 3: web: no such setting".to_string(),
        ),
        (
            format!("{storage}listen = \"127.0.0.1:0\"\nmetrics = \"0.0.0.0:9464\"\n"),
            "line 3: metrics: --metrics 0.0.0.0:9464 is not a loopback address".to_string(),
        ),
    ] {
        std::fs::write(&file, &text).unwrap();
        let (code, err) = refused(&["--config", cfg]);
        assert_eq!(code, Some(2), "{text}: {err}");
        let want = format!("{cfg} {want}");
        assert!(err.contains(&want), "{text}: want {want:?} in {err}");
    }
    assert!(
        !dir.path().join("s").exists(),
        "nothing of the storage touched"
    );

    // A file named by --config must exist.
    let missing = dir.path().join("missing.toml");
    let (code, err) = refused(&["--config", missing.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("missing.toml") && err.contains("No such file"),
        "{err}"
    );
    // Without listen anywhere.
    std::fs::write(&file, &storage).unwrap();
    let (code, err) = refused(&["--config", cfg]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--listen ADDR:PORT is required"), "{err}");
}
