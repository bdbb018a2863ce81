//! What the settings say about when to record: the policy and its companions.

use serde::{Deserialize, Serialize};

/// When calls are recorded (the Webex seeds' four modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Never: keys and remote starts are refused.
    Never,
    /// The record key starts and stops; the pause key pauses and resumes.
    OnDemand,
    /// Every call from its answer to its end; no user control.
    Always,
    /// Every call from its answer to its end; the keys pause and resume.
    AlwaysPause,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Never => "never",
            Policy::OnDemand => "on_demand",
            Policy::Always => "always",
            Policy::AlwaysPause => "always_pause",
        }
    }

    /// Starts recording at answer by itself.
    pub fn automatic(self) -> bool {
        matches!(self, Policy::Always | Policy::AlwaysPause)
    }
}

/// The settings the call controller follows. A change is taken only between recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// False when the settings' mode is `off`.
    pub enabled: bool,
    /// The settings' mode, as shown in status (`local`, `network`, `off`).
    pub mode: &'static str,
    pub policy: Policy,
    /// A held call's recording pauses (else it goes on).
    pub pause_on_hold: bool,
    /// Recordings started through the control API show nothing on the phone.
    pub silent_remote: bool,
    /// Ask for the notification tone this often while recording; None: never.
    pub tone_interval_ms: Option<u64>,
    /// The backend can pause (SIP INFO cannot: the convention has no pause).
    pub can_pause: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            enabled: true,
            mode: "local",
            policy: Policy::OnDemand,
            pause_on_hold: true,
            silent_remote: false,
            tone_interval_ms: None,
            can_pause: true,
        }
    }
}
