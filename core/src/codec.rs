//! The three audio codecs a Record file can hold, and what the RTP stream may carry besides audio.

use core::fmt;

/// RTP clock rate of every codec we record (RFC 3551; G.722 too, although it samples at 16 kHz).
pub const RTP_CLOCK_HZ: u32 = 8000;

/// An audio codec that callrec records. Each carries one byte per RTP clock tick. The default
/// is PCMA, the settings' default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 A-law, static payload type 8.
    #[default]
    Pcma,
    /// G.711 μ-law, static payload type 0.
    Pcmu,
    /// G.722 at 64 kbit/s, static payload type 9.
    G722,
}

impl Codec {
    pub const ALL: [Codec; 3] = [Codec::Pcma, Codec::Pcmu, Codec::G722];

    /// The name written in the Record file header and used in settings and the protocol.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::G722 => "G722",
        }
    }

    /// Parses a codec name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Codec> {
        Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The static RTP payload type of the codec (RFC 3551).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
            Codec::G722 => 9,
        }
    }

    /// The byte that encodes silence, repeated for any number of clock ticks.
    ///
    /// PCMA 0xD5 and PCMU 0xFF are the G.711 codes for zero; for G.722 see
    /// [`G722_SILENCE_BYTE`].
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcma => 0xD5,
            Codec::Pcmu => 0xFF,
            Codec::G722 => G722_SILENCE_BYTE,
        }
    }
}

/// The G.722 (64 kbit/s) byte written for silence: a run of it decodes to exact zeros after
/// the decoder settles (within 100 samples), and no other byte decodes quieter (tested in
/// `audio::g722`). The encoder has no single steady-state byte for digital silence, so a run of
/// one byte chosen by its decoded output is the "encoded silent frame" of the file format.
pub const G722_SILENCE_BYTE: u8 = 0xFD;

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an RTP packet's payload type means to the recorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    Audio(Codec),
    /// Comfort noise (RFC 3389, payload type 13): the interval is silence.
    ComfortNoise,
    /// telephone-event (RFC 4733): DTMF, never audio.
    TelephoneEvent,
}

/// Payload type of comfort noise (RFC 3551).
pub const PT_COMFORT_NOISE: u8 = 13;
/// Default dynamic payload type of telephone-event.
pub const DEFAULT_TELEPHONE_EVENT_PT: u8 = 101;

/// Maps a payload type to its meaning; `None` for a payload type we do not know.
pub fn classify_payload_type(pt: u8, telephone_event_pt: u8) -> Option<PayloadKind> {
    match pt {
        0 => Some(PayloadKind::Audio(Codec::Pcmu)),
        8 => Some(PayloadKind::Audio(Codec::Pcma)),
        9 => Some(PayloadKind::Audio(Codec::G722)),
        PT_COMFORT_NOISE => Some(PayloadKind::ComfortNoise),
        pt if pt == telephone_event_pt => Some(PayloadKind::TelephoneEvent),
        _ => None,
    }
}

/// As its name, `"PCMA"`, `"PCMU"` or `"G722"` (read ignoring ASCII case).
impl serde::Serialize for Codec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Codec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Codec, D::Error> {
        let name = String::deserialize(d)?;
        Codec::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom("codec must be PCMA, PCMU or G722"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
            assert_eq!(Codec::from_name(&c.name().to_lowercase()), Some(c));
        }
        assert_eq!(Codec::from_name("G729"), None);
    }

    #[test]
    fn payload_types() {
        assert_eq!(
            classify_payload_type(0, 101),
            Some(PayloadKind::Audio(Codec::Pcmu))
        );
        assert_eq!(
            classify_payload_type(8, 101),
            Some(PayloadKind::Audio(Codec::Pcma))
        );
        assert_eq!(
            classify_payload_type(9, 101),
            Some(PayloadKind::Audio(Codec::G722))
        );
        assert_eq!(
            classify_payload_type(13, 101),
            Some(PayloadKind::ComfortNoise)
        );
        assert_eq!(
            classify_payload_type(101, 101),
            Some(PayloadKind::TelephoneEvent)
        );
        assert_eq!(
            classify_payload_type(96, 96),
            Some(PayloadKind::TelephoneEvent)
        );
        assert_eq!(classify_payload_type(101, 96), None);
        assert_eq!(classify_payload_type(18, 101), None);
    }
}
