//! A minimal HTTP/1.1 GET over a TCP connection, as a browser would fetch the record server's
//! WAV: one request (`Connection: close`), a 2xx answer, its body by `Content-Length`, chunked,
//! or up to the end of the connection.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `GET path` from `addr` (`host:port`): the body, or why not.
pub fn get(addr: &str, path: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let url = format!("http://{addr}{path}");
    let target = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{url}: not an address"))?;
    let mut stream =
        TcpStream::connect_timeout(&target, timeout).map_err(|e| format!("{url}: {e}"))?;
    let io = |e: std::io::Error| format!("{url}: {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(io)?;
    body_of(&response).map_err(|e| format!("{url}: {e}"))
}

/// The body of a whole HTTP/1.1 response, if its status is 2xx.
pub fn body_of(response: &[u8]) -> Result<Vec<u8>, String> {
    let end = find(response, b"\r\n\r\n").ok_or("no end of the headers")?;
    let head = String::from_utf8_lossy(&response[..end]);
    let body = &response[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split(' ').nth(1).unwrap_or_default();
    if !code.starts_with('2') || code.len() != 3 {
        return Err(format!("answered {status_line:?}"));
    }
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        return dechunk(body);
    }
    match header("content-length") {
        Some(length) => {
            let length: usize = length
                .parse()
                .map_err(|_| format!("Content-Length {length:?}"))?;
            if body.len() < length {
                return Err(format!("{} bytes of {length}", body.len()));
            }
            Ok(body[..length].to_vec())
        }
        None => Ok(body.to_vec()),
    }
}

/// A chunked body's bytes (chunk extensions and trailers are skipped).
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or("a chunk without its size line")?;
        let line = String::from_utf8_lossy(&rest[..eol]);
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("chunk size {hex:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("a chunk cut short".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_by_its_length() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\ncontent-length: 4\r\n\r\nRIFFxx";
        assert_eq!(body_of(r).unwrap(), b"RIFF");
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nRIFF";
        assert_eq!(body_of(short).unwrap_err(), "4 bytes of 9");
    }

    #[test]
    fn a_chunked_body_and_one_up_to_the_end() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nRIFF\r\n2;x=y\r\nab\r\n0\r\n\r\n";
        assert_eq!(body_of(r).unwrap(), b"RIFFab");
        let r = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(body_of(r).unwrap(), b"all of it");
    }

    #[test]
    fn an_error_status_is_an_error() {
        let r = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            body_of(r).unwrap_err(),
            "answered \"HTTP/1.1 404 Not Found\""
        );
        assert!(body_of(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
