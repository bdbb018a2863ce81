//! The phone's recording settings page (`docs/web-api.md`): the login, the JSON API behind the
//! page, the recordings on the stick, and the page's files. Served by the agent's HTTP
//! listener (`super::http`), which also takes the action URLs.

pub mod api;
pub mod assets;
pub mod auth;
pub mod recordings;
