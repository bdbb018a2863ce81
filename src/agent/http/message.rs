//! What the listener's handlers see of HTTP: a [`Request`] read in full (its head and its body,
//! within the limits of [`super::wire`]) and the [`Answer`] to send back. The listener adds
//! `Content-Length`, `Connection: close` and `Date` itself, and sends no body for `HEAD`.

use callrec_platform::download::source::Source;
use std::borrow::Cow;
use std::net::SocketAddr;

/// One request, head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method as sent (methods are case-sensitive: `GET`, `HEAD`, `POST`, …).
    pub method: String,
    /// The path and query as the request line carries them (not percent-decoded).
    pub target: String,
    /// The header fields in the order sent: the name as sent, the value's bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// At most [`super::wire::MAX_BODY`] bytes (`Content-Length`; none without it).
    pub body: Vec<u8>,
    pub peer: SocketAddr,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// What follows the first `?` of the target, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The first field named `name` (any case), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first field named `name` (any case), if its value is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every field named `name` (any case) whose value is text, in order (`Cookie`, …).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// One answer: the status, the header fields (lower-case names) and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: AnswerBody,
}

/// The bytes of an answer; their number is its `Content-Length`.
#[derive(Debug)]
pub enum AnswerBody {
    Empty,
    Bytes(Cow<'static, [u8]>),
    /// `len` bytes read from `source` block by block as they are sent.
    Stream {
        source: Source,
        len: u64,
    },
}

impl AnswerBody {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            AnswerBody::Empty => 0,
            AnswerBody::Bytes(b) => b.len() as u64,
            AnswerBody::Stream { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Answer {
    pub fn new(status: u16, body: AnswerBody) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Sets the field `name` (lower-case) to `value`, replacing what it had.
    pub fn set(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        let value = value.into();
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.headers.push((name, value)),
        }
    }

    /// The field `name` (lower-case), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }
}

#[cfg(test)]
impl Request {
    /// A request from loopback with these header fields and no body, for tests.
    pub fn test(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        }
    }
}
