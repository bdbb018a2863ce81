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
        // Exactly `in` or `out` in JSON (the record protocol's lines ignore case).
        match String::deserialize(d)?.as_str() {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            _ => Err(serde::de::Error::custom("dir must be \"in\" or \"out\"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_exactly_in_or_out_and_the_wire_ignores_case() {
        let read = |s: &str| serde_json::from_str::<Direction>(s);
        assert_eq!(read("\"in\"").unwrap(), Direction::In);
        assert_eq!(read("\"out\"").unwrap(), Direction::Out);
        for bad in ["\"IN\"", "\"sideways\"", "\"\"", "1", "null"] {
            assert!(read(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&Direction::In).unwrap(), "\"in\"");
        assert_eq!(Direction::from_name("OUT"), Some(Direction::Out));
    }
}
