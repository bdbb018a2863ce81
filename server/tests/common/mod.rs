//! What the server's integration tests share.
#![allow(dead_code)]

#[cfg(feature = "peers")]
pub mod postgres;
pub mod suite;
