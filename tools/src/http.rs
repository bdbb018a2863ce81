//! An HTTP/1.1 client on one kept-alive connection, for the record server's API (the catalog's
//! benchmark times it, its crash test reads it): a request, then its status, the headers it
//! needs and a `Content-Length` body (all that server sends).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Client {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
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
        })
    }

    /// `GET path`, the whole answer read.
    pub fn get(&mut self, path: &str) -> std::io::Result<Answer> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
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
