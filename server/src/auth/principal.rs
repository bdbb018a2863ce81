//! Who a request comes from, once authenticated: what every handler of the web side gets (and
//! what the audit trail records as `who` and `from`).

use super::role::{Roles, Scope};
use core::fmt;
use std::net::IpAddr;

/// The account or token behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A user, by name.
    User(String),
    /// An API token, by its id (`crt_` tokens are listed and revoked by it).
    Token(String),
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::User(name) => write!(f, "user:{name}"),
            Who::Token(id) => write!(f, "token:{id}"),
        }
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A browser session's cookie; its CSRF token, for the forms the page writes.
    Session { csrf: String },
    /// `Authorization: Bearer crt_…`.
    Token,
}

/// An authenticated requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub who: Who,
    pub roles: Roles,
    pub scope: Scope,
    pub via: Via,
    /// The peer address of the connection.
    pub from: IpAddr,
}

impl Principal {
    /// The session's CSRF token, if this is a cookie session.
    pub fn csrf(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf } => Some(csrf),
            Via::Token => None,
        }
    }
}
