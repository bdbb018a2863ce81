//! The record server's web side under TLS and its guards, against the real `callrec-server`:
//! a certificate made by `callrec-server tls self-signed`, fetched with a real TLS client
//! (rustls, trusting only that certificate), HSTS on every answer; certificate files that are
//! wrong refused at start with exit 2 and the file's name; plain HTTP off loopback refused
//! without `--allow-plain-http`; a Host that is not the server's answered 421; `/healthz` 200,
//! and 503 `storage` below the reserve; clients that connect and never handshake do not keep
//! others out.

mod common;
use common::server::Server;
use common::TempDir;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

struct Pair {
    cert: PathBuf,
    key: PathBuf,
}

/// A certificate for localhost and 127.0.0.1, made by the server's own command.
fn pair(dir: &Path, tag: &str) -> Pair {
    let cert = dir.join(format!("{tag}-cert.pem"));
    let key = dir.join(format!("{tag}-key.pem"));
    let out = Command::new(common::bins::server())
        .args(["tls", "self-signed", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .args(["--name", "localhost", "--name", "127.0.0.1", "--days", "30"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key is the owner's only");
    Pair { cert, key }
}

fn tls_args(p: &Pair) -> Vec<String> {
    vec![
        "--http".into(),
        "127.0.0.1:0".into(),
        "--tls-cert".into(),
        p.cert.display().to_string(),
        "--tls-key".into(),
        p.key.display().to_string(),
    ]
}

fn start(dir: &TempDir, args: &[String]) -> Server {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(dir.path(), &a)
}

/// A TLS client that trusts only `cert`.
fn client(cert: &Path) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// One request on its own connection (`Connection: close`), read to the end.
fn exchange(io: &mut dyn ReadWrite, method: &str, path: &str, host: &str) -> Reply {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    io.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    // rustls reports a peer that closes without close_notify as an error after the data.
    let _ = io.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text:?}"));
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn https(addr: SocketAddr, cert: &Path, name: &str, method: &str, path: &str, host: &str) -> Reply {
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
    let conn = rustls::ClientConnection::new(client(cert), server_name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    exchange(&mut tls, method, path, host)
}

fn plain(addr: SocketAddr, method: &str, path: &str, host: &str) -> Reply {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    exchange(&mut tcp, method, path, host)
}

/// The server's exit code and its stderr, for a start that must fail.
fn refused(dir: &TempDir, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(common::bins::server())
        .args(["--listen", "127.0.0.1:0", "--storage"])
        .arg(dir.path().join("refused"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.is_empty(), "it started: {line}");
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn https_with_a_real_client_carries_hsts_and_answers_only_its_names() {
    let dir = TempDir::new("server-tls");
    let p = pair(dir.path(), "a");
    let mut args = tls_args(&p);
    args.extend(["--http-name".into(), "Recorder.Example".into()]);
    let mut server = start(&dir, &args);
    let addr = server.http.unwrap();
    let port = addr.port();

    let r = https(
        addr,
        &p.cert,
        "localhost",
        "GET",
        "/healthz",
        &format!("localhost:{port}"),
    );
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"), "{r:?}");
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=31536000")
    );
    // The page too, by the address and by the configured name (any case, with or without port).
    for host in [
        format!("127.0.0.1:{port}"),
        "recorder.example".into(),
        format!("RECORDER.example:{port}"),
    ] {
        let r = https(addr, &p.cert, "127.0.0.1", "GET", "/healthz", &host);
        assert_eq!(r.status, 200, "{host}: {r:?}");
    }
    // Another name (DNS rebinding): 421, HSTS still there, nothing else said.
    let r = https(
        addr,
        &p.cert,
        "localhost",
        "GET",
        "/",
        &format!("evil.example:{port}"),
    );
    assert_eq!(r.status, 421, "{r:?}");
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=31536000")
    );
    assert!(r.body.contains("host name"), "{r:?}");
    let r = https(
        addr,
        &p.cert,
        "localhost",
        "HEAD",
        "/healthz",
        "evil.example",
    );
    assert_eq!(r.status, 421, "{r:?}");
    // A malformed Host: 400.
    let r = https(addr, &p.cert, "localhost", "GET", "/healthz", "a b");
    assert_eq!(r.status, 400, "{r:?}");

    // Plain HTTP to the TLS port gets no answer in HTTP.
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // A client that trusts another certificate refuses this one (the test's client is real).
    let other = pair(dir.path(), "b");
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client(&other.cert), server_name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr).unwrap());
    assert!(
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .and_then(|()| tls.flush())
            .is_err()
            || tls.read(&mut [0u8; 16]).is_err()
    );
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

#[test]
fn silent_clients_do_not_keep_others_out() {
    let dir = TempDir::new("server-tls-silent");
    let p = pair(dir.path(), "a");
    let mut server = start(&dir, &tls_args(&p));
    let addr = server.http.unwrap();
    // Connections that never send a byte, and one that sends half a ClientHello.
    let mut silent: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    silent.push(half);
    for _ in 0..3 {
        let r = https(addr, &p.cert, "localhost", "GET", "/healthz", "localhost");
        assert_eq!(r.status, 200, "{r:?}");
    }
    drop(silent);
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

#[test]
fn plain_http_off_loopback_needs_allow_plain_http() {
    let dir = TempDir::new("server-tls-plain");
    let (code, err) = refused(&dir, &["--http", "0.0.0.0:0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(
        err.contains("--tls-cert FILE --tls-key FILE") && err.contains("--allow-plain-http"),
        "{err}"
    );
    // Said explicitly, it serves; on loopback no flag is needed (every other test).
    let mut server = Server::start(dir.path(), &["--http", "0.0.0.0:0", "--allow-plain-http"]);
    let port = server.http.unwrap().port();
    let r = plain(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "GET",
        "/healthz",
        "127.0.0.1",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "no HSTS without TLS"
    );
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

#[test]
fn unusable_certificate_files_are_refused_at_start_with_their_names() {
    let dir = TempDir::new("server-tls-files");
    let a = pair(dir.path(), "a");
    let b = pair(dir.path(), "b");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let s = |p: &Path| p.display().to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![s(&dir.path().join("missing.pem")), s(&a.key)],
            format!(
                "--tls-cert {}: No such file",
                s(&dir.path().join("missing.pem"))
            ),
        ),
        (
            vec![s(&junk), s(&a.key)],
            format!("--tls-cert {}: no PEM certificate", s(&junk)),
        ),
        (
            vec![s(&a.cert), s(&junk)],
            format!("--tls-key {}: no PEM private key", s(&junk)),
        ),
        (vec![s(&a.key), s(&a.key)], "no PEM certificate".into()),
        (
            vec![s(&a.cert), s(&b.key)],
            "the key is not the certificate's".into(),
        ),
    ];
    for (files, want) in cases {
        let args = [
            "--http",
            "127.0.0.1:0",
            "--tls-cert",
            &files[0],
            "--tls-key",
            &files[1],
        ];
        let (code, err) = refused(&dir, &args);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(&want), "want {want:?} in {err}");
    }
    let (code, err) = refused(&dir, &["--http", "127.0.0.1:0", "--tls-cert", &s(&a.cert)]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--tls-cert and --tls-key go together"),
        "{err}"
    );
    // Nothing of the storage was touched: the files are checked first.
    assert!(!dir.path().join("refused").exists());
}

#[test]
fn healthz_says_ok_or_what_is_wrong_and_nothing_more() {
    let dir = TempDir::new("server-healthz");
    let mut server = Server::start(dir.path(), &["--http", "127.0.0.1:0"]);
    let addr = server.http.unwrap();
    let r = plain(addr, "GET", "/healthz", "localhost");
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"), "{r:?}");
    let r = plain(addr, "HEAD", "/healthz", "localhost");
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    assert_eq!(r.header("content-length").as_deref(), Some("3"));
    assert!(!r.head.to_ascii_lowercase().contains("version"), "{r:?}");
    let r = plain(addr, "POST", "/healthz", "localhost");
    assert_eq!(r.status, 405, "{r:?}");
    server.child.kill().unwrap();
    let _ = server.child.wait();

    // A reserve larger than any disk: the storage is below it.
    let dir = TempDir::new("server-healthz-full");
    let mut server = Server::start(
        dir.path(),
        &["--http", "127.0.0.1:0", "--reserve", "1073741824"],
    );
    let r = plain(server.http.unwrap(), "GET", "/healthz", "127.0.0.1");
    assert_eq!((r.status, r.body.as_str()), (503, "storage\n"), "{r:?}");
    server.child.kill().unwrap();
    let _ = server.child.wait();
}
