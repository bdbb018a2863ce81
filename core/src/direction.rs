//! The call's direction, as the phone sees it: one type for the control protocol's call info,
//! the record protocol and the record server's sidecar.

use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The default is `out`, what the agent tells a record server when the phone does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// An incoming call (`in`).
    In,
    /// An outgoing call (`out`).
    #[default]
    Out,
}

impl Direction {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Direction> {
        [Direction::In, Direction::Out]
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// As its wire name, `"in"` or `"out"`.
impl Serialize for Direction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Direction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Direction, D::Error> {
        let name = String::deserialize(d)?;
        Direction::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom("dir must be \"in\" or \"out\""))
    }
}
