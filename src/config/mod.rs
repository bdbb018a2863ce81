//! The agent's settings file (what the user chose) and the settings page's form; the board file
//! (what the phone model is) is `callrec_platform::config::board`.

pub mod form;
pub mod settings;

pub use callrec_platform::config::ConfigError;
