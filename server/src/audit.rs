//! The audit trail: an append-only list of who did what, from where and when, in the catalog's
//! database (tables `audit` and `audit_head`, made by a migration of `catalog::schema`), each
//! entry chained to the one before by SHA-256, so that an entry edited, removed or moved
//! afterwards is found by `callrec-server audit verify` ([`cli`]).
//!
//! # An entry
//!
//! | field    | what                                                                       |
//! |----------|----------------------------------------------------------------------------|
//! | `seq`    | its place: 1, 2, 3, … with no gap                                          |
//! | `ms`     | when (Unix ms; never less than the entry before's)                         |
//! | `who`    | a user's name, `token:ID`, `console:USER@HOST`, or `server`                |
//! | `from`   | the peer's address (`192.0.2.7`, `2001:db8::1`), or `console`              |
//! | `action` | a stable code ([`Action`])                                                 |
//! | `rid`    | the recording it concerns, or empty                                        |
//! | `what`   | JSON text (an object): the details (a search's filters, a device's fields) |
//! | `prev`   | the `hash` of the entry before (64 lower-case hex digits; entry 1: 64 `0`s)|
//! | `hash`   | SHA-256 of `prev` (its 32 bytes) followed by the entry's canonical bytes   |
//!
//! # The canonical bytes
//!
//! An entry's canonical bytes are, in this order:
//!
//! 1. the 16 ASCII bytes `callrec-audit-1\n` (the encoding's version);
//! 2. `seq` as 8 bytes, unsigned big-endian;
//! 3. `ms` as 8 bytes, signed big-endian (two's complement);
//! 4. `who`, `from`, `action`, `rid`, `what`, each as its length in bytes (4 bytes, unsigned
//!    big-endian) followed by its UTF-8 bytes exactly as stored (`what` is not re-serialized).
//!
//! `hash(n) = SHA-256(bytes(prev) ‖ canonical(n))` where `bytes(prev)` is the 32 bytes of
//! entry n−1's hash (32 zero bytes for entry 1). A script recomputes it from the table alone
//! ([`chain::canonical`], [`chain::link`]).
//!
//! The head (table `audit_head`: the last `seq` and its `hash`) is written in the same
//! transaction as each entry: an append locks it first (`BEGIN IMMEDIATE` on SQLite, `SELECT …
//! FOR UPDATE` on PostgreSQL), so appends from any number of processes, or of servers sharing
//! one PostgreSQL, line up one after the other and each links to the one committed before it.
//! A trail cut short at its end no longer reaches the head. What no chain can show on its own
//! is a trail rewritten whole from some entry on, head included, by someone who can write the
//! database: `audit verify` prints the head's hash, and keeping that line somewhere else (a
//! ticket, a mail, another machine) from time to time anchors everything up to it.
//!
//! # Failing closed
//!
//! [`store::append`] and [`store::with_change`] return an error whenever the entry was not
//! committed; an action that must be audited does not happen then: [`store::with_change`] runs
//! the change and writes its entry in one transaction, so neither is kept without the other.

pub mod chain;
pub mod cli;
pub mod export;
pub mod store;
pub mod web;

use crate::catalog::CatalogError;
use core::fmt;

/// The stable codes of what an entry records. New codes may be added; none changes meaning.
pub const ACTIONS: &[&str] = &[
    "login",
    "login_failed",
    "logout",
    "search",
    "listen",
    "download",
    "delete",
    "legal_hold",
    "legal_hold_release",
    "retention_change",
    "disposal",
    "user_add",
    "user_change",
    "user_remove",
    "token_add",
    "token_revoke",
    "device_add",
    "device_change",
    "device_remove",
];

/// One of [`ACTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action(&'static str);

impl Action {
    pub const LOGIN: Action = Action("login");
    pub const LOGIN_FAILED: Action = Action("login_failed");
    pub const LOGOUT: Action = Action("logout");
    pub const SEARCH: Action = Action("search");
    pub const LISTEN: Action = Action("listen");
    pub const DOWNLOAD: Action = Action("download");
    pub const DELETE: Action = Action("delete");
    pub const LEGAL_HOLD: Action = Action("legal_hold");
    pub const LEGAL_HOLD_RELEASE: Action = Action("legal_hold_release");
    pub const RETENTION_CHANGE: Action = Action("retention_change");
    pub const DISPOSAL: Action = Action("disposal");
    pub const USER_ADD: Action = Action("user_add");
    pub const USER_CHANGE: Action = Action("user_change");
    pub const USER_REMOVE: Action = Action("user_remove");
    pub const TOKEN_ADD: Action = Action("token_add");
    pub const TOKEN_REVOKE: Action = Action("token_revoke");
    pub const DEVICE_ADD: Action = Action("device_add");
    pub const DEVICE_CHANGE: Action = Action("device_change");
    pub const DEVICE_REMOVE: Action = Action("device_remove");

    /// The action of this code, if it is one.
    pub fn parse(code: &str) -> Option<Action> {
        ACTIONS.iter().find(|a| **a == code).map(|a| Action(a))
    }

    pub fn code(self) -> &'static str {
        self.0
    }
}

/// What a caller asks to record; the trail gives it its `seq`, `ms` and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub who: String,
    pub from: String,
    pub action: Action,
    /// The recording's RID, or empty.
    pub rid: String,
    /// The details, as a JSON object.
    pub what: serde_json::Value,
}

impl Event {
    /// An event of a console command, by the user running it (`console:USER@HOST`).
    pub fn console(action: Action, what: serde_json::Value) -> Event {
        Event {
            who: console_who(),
            from: "console".into(),
            action,
            rid: String::new(),
            what,
        }
    }
}

/// `console:USER@HOST` of this process (`?` where the system does not say).
pub fn console_who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid{}", uid()));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "?".into());
    format!("console:{user}@{host}")
}

fn uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

/// Why the trail could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditError {
    /// The catalog refused or could not be reached: the entry is not written.
    Catalog(CatalogError),
    /// The table holds what this server does not write (a head that is not one row, a field
    /// of the wrong type): the trail is not appended to until an admin looks.
    Data(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Catalog(e) => write!(f, "audit trail: {e}"),
            AuditError::Data(m) => write!(f, "audit trail: {m}"),
        }
    }
}

impl std::error::Error for AuditError {}

impl From<CatalogError> for AuditError {
    fn from(e: CatalogError) -> AuditError {
        AuditError::Catalog(e)
    }
}
