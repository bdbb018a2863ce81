//! An HTTP/1.1 client on one kept-alive connection, for the record server's API (the catalog's
//! benchmark times it, its crash test reads it): a request, then its status, the headers it
//! needs and a `Content-Length` body (all that server sends).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Client {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
    /// Sent as `Authorization: Bearer …` with every request.
    token: Option<String>,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    /// `X-Total-Count`.
    pub total: Option<u64>,
    /// `X-Next-Cursor`.
    pub next: Option<String>,
    pub body: Vec<u8>,
}

impl Client {
    /// A connection whose reads time out after 60 s.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        Client::connect_timeout(addr, Duration::from_secs(60))
    }

    /// A connection whose connect, reads and writes time out after `timeout`.
    pub fn connect_timeout(addr: SocketAddr, timeout: Duration) -> std::io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            addr,
            reader: BufReader::new(stream),
            token: None,
        })
    }

    /// Every request then carries `Authorization: Bearer token` (the server's API token).
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_string());
        self
    }

    /// `GET path`, the whole answer read.
    pub fn get(&mut self, path: &str) -> std::io::Result<Answer> {
        let auth = match &self.token {
            Some(t) => format!("Authorization: Bearer {t}\r\n"),
            None => String::new(),
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}\r\n", self.addr);
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let (mut length, mut total, mut next) = (0usize, None, None);
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case("x-total-count") {
                    total = v.parse().ok();
                } else if k.eq_ignore_ascii_case("x-next-cursor") {
                    next = Some(v.to_string());
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Answer {
            status,
            total,
            next,
            body,
        })
    }
}

/// An API token for a tool that reads the server's web side: made on the console of `server`
/// (the `callrec-server` binary) for storage `storage` (and `--catalog` `catalog`): a user
/// `name` with a random password (admin and supervisor of every group), then its token.
pub fn console_token(
    server: &std::path::Path,
    storage: &std::path::Path,
    catalog: Option<&str>,
    name: &str,
) -> std::io::Result<String> {
    use std::process::{Command, Stdio};
    let fail = |what: &str, out: &std::process::Output| {
        std::io::Error::other(format!(
            "callrec-server {what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    };
    let with_catalog = |c: &mut Command| {
        c.arg("--storage").arg(storage);
        if let Some(url) = catalog {
            c.args(["--catalog", url]);
        }
    };
    let mut pw = [0u8; 24];
    callrec_platform::random::fill(&mut pw)?;
    let pw: String = pw.iter().map(|b| format!("{b:02x}")).collect();
    let mut add = Command::new(server);
    add.args([
        "user",
        "add",
        name,
        "--role",
        "admin,supervisor",
        "--password-stdin",
    ]);
    with_catalog(&mut add);
    let mut child = add
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(format!("{pw}\n").as_bytes())?;
    }
    let out = child.wait_with_output()?;
    // Taken by an earlier run on the same storage: its token is made anew all the same.
    if !out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("exists") {
        return Err(fail("user add", &out));
    }
    let mut token = Command::new(server);
    token.args([
        "token",
        "add",
        "--by",
        name,
        "--name",
        name,
        "--role",
        "admin,supervisor",
    ]);
    with_catalog(&mut token);
    let out = token.stderr(Stdio::piped()).output()?;
    if !out.status.success() {
        return Err(fail("token add", &out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
