//! Why the agent did not do what a command asked, as the control protocol answers it: a stable
//! `code` and a message. Sorted by who is at fault: the user or the client (the controller's
//! refusals, a bad settings change, a recording that cannot be deleted), the phone's SIP stack
//! (a report that does not fit), the settings file's author, or the phone itself (its storage).

use crate::config::ConfigError;
use callrec_core::calls::Refused;
use callrec_core::sip::client::ReportError;
use core::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Refusal {
    /// The call controller's (a key, a call event, a remote command): the user or the client.
    Controller(Refused),
    /// A settings change with fields that are not valid: the user (each field's message goes in
    /// the answer's `fields`).
    InvalidSettings { fields: Vec<String> },
    /// The settings could not be written: the phone's storage.
    SaveFailed(io::Error),
    /// `reload` found no usable settings file: its author.
    Reload(ReloadError),
    /// A SIP stack's report that does not fit the request: the firmware.
    SipReport(ReportError),
    /// A recording that cannot be deleted.
    Delete(DeleteRefusal),
}

/// Why `reload` did not take the settings file.
#[derive(Debug)]
pub enum ReloadError {
    Missing(PathBuf),
    Invalid(ConfigError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Missing(path) => write!(f, "no settings file at {}", path.display()),
            ReloadError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReloadError {}

/// Why a recording on the stick was not deleted.
#[derive(Debug)]
pub enum DeleteRefusal {
    /// Not the name of a recording: the client.
    BadName,
    /// It is the file being written: the user.
    BeingWritten,
    NoStick,
    NotFound,
    /// The stick refused: the stick.
    Io(io::Error),
}

impl Refusal {
    /// The stable code of the control protocol's error.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Controller(r) => r.code(),
            Refusal::InvalidSettings { .. } => "invalid",
            Refusal::SaveFailed(_) => "save_failed",
            Refusal::Reload(_) => "bad_settings",
            Refusal::SipReport(_) => "bad_sip_response",
            Refusal::Delete(d) => match d {
                DeleteRefusal::BadName => "bad_name",
                DeleteRefusal::BeingWritten => "recording",
                DeleteRefusal::NoStick => "no_stick",
                DeleteRefusal::NotFound => "not_found",
                DeleteRefusal::Io(_) => "io_error",
            },
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Controller(r) => r.fmt(f),
            Refusal::InvalidSettings { fields } => write!(
                f,
                "{} setting(s) not valid: {}",
                fields.len(),
                fields.join(", ")
            ),
            Refusal::SaveFailed(e) => write!(f, "the settings could not be saved: {e}"),
            Refusal::Reload(e) => e.fmt(f),
            Refusal::SipReport(e) => e.fmt(f),
            Refusal::Delete(d) => match d {
                DeleteRefusal::BadName => f.write_str("not the name of a recording"),
                DeleteRefusal::BeingWritten => f.write_str("this recording is being written"),
                DeleteRefusal::NoStick => f.write_str("no USB stick is inserted"),
                DeleteRefusal::NotFound => f.write_str("no such recording"),
                DeleteRefusal::Io(e) => write!(f, "cannot delete it: {e}"),
            },
        }
    }
}

impl std::error::Error for Refusal {}

impl From<Refused> for Refusal {
    fn from(r: Refused) -> Refusal {
        Refusal::Controller(r)
    }
}
