//! The agent's HTTP listener on the board's `http` address: the action URLs (call events and
//! key presses from the phone, `docs/integration.md`) and the settings page (`super::web`,
//! `docs/web-api.md`).
//!
//! The agent needs HTTP/1.1 in its simplest form: one request per connection, small request
//! bodies with `Content-Length`, answers with `Content-Length` (whole or streamed from a file),
//! `Connection: close`. So it has its own, on `httparse` and tokio:
//!
//! - [`route`] decides, without I/O, what an action URL gets from its method, target and peer:
//!   a command for the main loop or an answer at once. Every other path is the page's.
//! - [`wire`] is the HTTP without I/O: the request head parsed within [`MAX_HEAD`] bytes and
//!   [`MAX_HEADERS`] fields, the body's length (at most [`MAX_BODY`]), the answer's head.
//! - [`message`] holds what the handlers see: a [`Request`] read in full and the [`Answer`].
//! - [`conn`] is the driver: [`serve`] accepts at most [`MAX_CONNECTIONS`] connections at once
//!   (one more is closed at once), reads one request on each (head within
//!   [`HEADER_READ_TIMEOUT`], body within [`BODY_READ_TIMEOUT`]), answers it (a client that
//!   stops reading dropped after [`WRITE_STALL_TIMEOUT`]) and closes. Action URLs are handed to
//!   the main loop as a control-socket [`Job`] and answered with the same JSON response line.

use super::control_socket::Job;
use super::web::api::Web;
use callrec_core::action_url::{self, ActionError};
use callrec_core::control_protocol::{Command, Response as Reply};
use std::net::IpAddr;
use tokio::sync::mpsc;

pub mod conn;
pub mod message;
pub mod wire;

pub use conn::{
    serve, BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, WRITE_STALL_TIMEOUT,
};
pub use message::{Answer, AnswerBody, Request};
pub use wire::{MAX_BODY, MAX_HEAD, MAX_HEADERS};

/// What `Allow` says on a 405.
const ALLOWED: &str = "GET, HEAD";

/// The parts of the site, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    /// `/action/…`: call events and key presses, from loopback peers only.
    Action,
}

impl Area {
    fn of(path: &str) -> Option<Area> {
        if path == "/action" || path.starts_with(action_url::PREFIX) {
            return Some(Area::Action);
        }
        None
    }
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Hand this to the main loop and answer with its response.
    Command(Command),
    /// Answer at once.
    Refuse(Refusal),
}

/// An answer that needs no main loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 403, 404 or 405 (with `Allow: GET, HEAD`).
    pub status: u16,
    /// The `code` of the response line's error.
    pub code: &'static str,
    pub message: String,
}

fn refuse(status: u16, code: &'static str, message: &str) -> Outcome {
    Outcome::Refuse(Refusal {
        status,
        code,
        message: message.into(),
    })
}

impl From<ActionError> for Refusal {
    fn from(e: ActionError) -> Refusal {
        Refusal {
            status: e.status(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// What a request with `method` for `target` (the path and query, as the request line carries
/// them) from `peer` gets. In order: a path of no area is 404; an action URL from a peer other
/// than loopback is 403; a method other than GET or HEAD is 405; then the action URL's own
/// answer (404 for no such action, 400 for a bad value, else the command).
pub fn route(method: &str, target: &str, peer: IpAddr) -> Outcome {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match Area::of(path) {
        None => refuse(404, "not_found", "no such page"),
        Some(Area::Action) => {
            if !peer.to_canonical().is_loopback() {
                return refuse(403, "forbidden", "action URLs are for loopback peers only");
            }
            if method != "GET" && method != "HEAD" {
                return refuse(405, "method_not_allowed", "only GET and HEAD");
            }
            match action_url::parse(target) {
                Ok(command) => Outcome::Command(command),
                Err(e) => Outcome::Refuse(e.into()),
            }
        }
    }
}

/// The HTTP status of the main loop's answer: 200 when done, 503 when the agent is stopping,
/// 409 when refused.
pub fn status_of(answer: &Reply) -> u16 {
    match &answer.error {
        _ if answer.ok => 200,
        Some(e) if e.code == "shutting_down" => 503,
        _ => 409,
    }
}

/// The answer to one request: an action URL's here, every other path's from the settings
/// page.
async fn answer(req: &Request, jobs: &mpsc::Sender<Job>, web: &Web) -> Answer {
    let path = req.path();
    if Area::of(path).is_none() {
        let r = super::web::api::handle(web, jobs, req).await;
        log::debug!("http {} {} {path}: {}", req.peer, req.method, r.status);
        return r;
    }
    let (status, reply) = match route(&req.method, &req.target, req.peer.ip()) {
        Outcome::Command(command) => {
            let request = callrec_core::control_protocol::Request::new(command, None);
            let a = super::control_socket::ask(request, jobs).await;
            (status_of(&a), a)
        }
        Outcome::Refuse(r) => (r.status, Reply::error(None, r.code, r.message, None)),
    };
    // The query may hold phone numbers and names: personal data, so the path only.
    log::debug!("http {} {} {path}: {status}", req.peer, req.method);
    let body = AnswerBody::Bytes(reply.encode().into_bytes().into());
    let mut a = Answer::new(status, body);
    a.set("content-type", "application/json");
    a.set("cache-control", "no-store");
    a.set("x-content-type-options", "nosniff");
    if status == 405 {
        a.set("allow", ALLOWED);
    }
    a
}

#[cfg(test)]
mod tests;
