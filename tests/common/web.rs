//! A small HTTP/1.1 client for the agent's settings page and API: one request per connection
//! (the agent closes after each), the session cookie and CSRF token kept between requests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error code of a JSON error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// A browser, as far as the API is concerned.
#[derive(Debug, Clone)]
pub struct Client {
    pub to: SocketAddr,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Client {
    pub fn new(to: SocketAddr) -> Client {
        Client {
            to,
            cookie: None,
            csrf: None,
        }
    }

    /// Any request; `body` is sent as JSON when given. Sends the cookie and the CSRF token it
    /// has.
    pub fn send(&self, method: &str, target: &str, body: Option<&serde_json::Value>) -> Reply {
        self.try_send(method, target, body).unwrap()
    }

    /// As [`send`](Self::send), with the connection's failure as an error.
    pub fn try_send(
        &self,
        method: &str,
        target: &str,
        body: Option<&serde_json::Value>,
    ) -> std::io::Result<Reply> {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept-Encoding: gzip\r\n",
            self.to
        );
        if let Some(c) = &self.cookie {
            head.push_str(&format!("Cookie: callrec_session={c}\r\n"));
        }
        // A record server's web side started by the tests has a token (`server::Server`).
        if let Some(t) = super::server::token_of(self.to) {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        if let Some(t) = &self.csrf {
            head.push_str(&format!("X-CSRF-Token: {t}\r\n"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        self.try_raw(format!("{head}{body}").as_bytes())
    }

    /// Bytes as they are; the answer parsed.
    pub fn raw(&self, request: &[u8]) -> Reply {
        self.try_raw(request).unwrap()
    }

    fn try_raw(&self, request: &[u8]) -> std::io::Result<Reply> {
        let mut s = TcpStream::connect(self.to)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.write_all(request)?;
        let mut all = Vec::new();
        s.read_to_end(&mut all)?;
        parse(&all)
    }

    pub fn get(&self, target: &str) -> Reply {
        self.send("GET", target, None)
    }

    /// Logs in; keeps the cookie and the token on success.
    pub fn login(&mut self, user: &str, password: &str) -> Reply {
        let r = self.send(
            "POST",
            "/api/login",
            Some(&serde_json::json!({"user": user, "password": password})),
        );
        if r.status == 200 {
            let cookie = r.header("set-cookie").unwrap_or_default();
            self.cookie = cookie
                .split(';')
                .next()
                .and_then(|c| c.strip_prefix("callrec_session="))
                .map(str::to_owned);
            self.csrf = r.json()["csrf"].as_str().map(str::to_owned);
        }
        r
    }

    /// Logs in with the factory password and changes it to `new`.
    pub fn first_login(&mut self, new: &str) {
        assert_eq!(self.login("admin", "admin").status, 200);
        let r = self.send(
            "POST",
            "/api/password",
            Some(&serde_json::json!({"current": "admin", "new": new})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// An answer as read whole from a connection the server closed.
pub fn parse(all: &[u8]) -> std::io::Result<Reply> {
    let Some(split) = all.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(std::io::Error::other(format!(
            "no HTTP answer: {:?}",
            String::from_utf8_lossy(all)
        )));
    };
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: all[split + 4..].to_vec(),
    })
}
