//! Who may use the web side: accounts with roles and a scope, sessions, API tokens, and the
//! slowing of failed logins. The rules are sans-IO (time comes in as Unix milliseconds); the
//! accounts, sessions and tokens live in the catalog ([`store`]), so that several nodes on one
//! PostgreSQL catalog share them and the console commands ([`cli`]) change them beside a running
//! server.
//!
//! - [`role`]: the roles (admin, supervisor, auditor), a set of them, and the scope (device
//!   groups; empty: every group), with what each may reach.
//! - [`password`]: Argon2id hashes in PHC form.
//! - [`secret`]: random tokens from the kernel's CSPRNG, their SHA-256, constant-time equality.
//! - [`throttle`]: failed logins slowed per (account, address) and per address.
//! - [`csrf`]: the check every state-changing request of a cookie session passes.
//! - [`principal`]: who a request comes from, as the handlers (and the audit trail) see it.

pub mod cli;
pub mod csrf;
pub mod password;
pub mod principal;
pub mod role;
pub mod secret;
pub mod store;
pub mod throttle;

pub use principal::{Principal, Via, Who};
pub use role::{Role, Roles, Scope};
