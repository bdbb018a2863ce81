//! RTP (RFC 3550) packets: a checked, borrowed view of one datagram.
//!
//! Parsing never panics and never allocates; a malformed packet gives a [`RtpError`] naming what
//! is wrong, which the caller counts.

use core::fmt;

/// Fixed part of the RTP header.
pub const FIXED_HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Number of CSRC entries (the contributing sources of a mix).
    pub csrc_count: u8,
    /// Profile-defined id of the header extension, if any.
    pub extension_profile: Option<u16>,
    /// The payload with padding removed.
    pub payload: &'a [u8],
}

/// Why a datagram is not a usable RTP packet. The sender is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header.
    TooShort,
    /// The version field is not 2.
    BadVersion,
    /// The CSRC list runs past the end of the datagram.
    TruncatedCsrc,
    /// The header extension runs past the end of the datagram.
    TruncatedExtension,
    /// The padding count is zero or larger than the payload.
    BadPadding,
    /// Payload type 72–76: an RTCP packet on the RTP port (RFC 5761).
    Rtcp,
    /// Nothing after the header.
    EmptyPayload,
}

impl RtpError {
    pub const ALL: [RtpError; 7] = [
        RtpError::TooShort,
        RtpError::BadVersion,
        RtpError::TruncatedCsrc,
        RtpError::TruncatedExtension,
        RtpError::BadPadding,
        RtpError::Rtcp,
        RtpError::EmptyPayload,
    ];

    /// A stable snake_case name, used in counters and status output.
    pub fn name(self) -> &'static str {
        match self {
            RtpError::TooShort => "too_short",
            RtpError::BadVersion => "bad_version",
            RtpError::TruncatedCsrc => "truncated_csrc",
            RtpError::TruncatedExtension => "truncated_extension",
            RtpError::BadPadding => "bad_padding",
            RtpError::Rtcp => "rtcp",
            RtpError::EmptyPayload => "empty_payload",
        }
    }

    /// Position in [`RtpError::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < FIXED_HEADER_LEN {
            return Err(RtpError::TooShort);
        }
        let b0 = buf[0];
        let b1 = buf[1];
        if b0 >> 6 != 2 {
            return Err(RtpError::BadVersion);
        }
        let padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let payload_type = b1 & 0x7F;
        if (72..=76).contains(&payload_type) {
            return Err(RtpError::Rtcp);
        }
        let mut offset = FIXED_HEADER_LEN + 4 * usize::from(csrc_count);
        if buf.len() < offset {
            return Err(RtpError::TruncatedCsrc);
        }
        let mut extension_profile = None;
        if has_extension {
            let Some(ext) = buf.get(offset..offset + 4) else {
                return Err(RtpError::TruncatedExtension);
            };
            extension_profile = Some(u16::from_be_bytes([ext[0], ext[1]]));
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            offset += 4 + 4 * words;
            if buf.len() < offset {
                return Err(RtpError::TruncatedExtension);
            }
        }
        let mut end = buf.len();
        if padding {
            let pad = usize::from(buf[end - 1]);
            if pad == 0 || pad > end - offset {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        if end == offset {
            return Err(RtpError::EmptyPayload);
        }
        Ok(RtpPacket {
            marker: b1 & 0x80 != 0,
            payload_type,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            csrc_count,
            extension_profile,
            payload: &buf[offset..end],
        })
    }

    /// Writes a minimal RTP header (version 2, no padding, extension or CSRC) followed by
    /// `payload` into `out`, returning the length. For senders and tests.
    pub fn emit(
        out: &mut [u8],
        marker: bool,
        payload_type: u8,
        sequence: u16,
        timestamp: u32,
        ssrc: u32,
        payload: &[u8],
    ) -> Option<usize> {
        let len = FIXED_HEADER_LEN + payload.len();
        let out = out.get_mut(..len)?;
        out[0] = 0x80;
        out[1] = (u8::from(marker) << 7) | (payload_type & 0x7F);
        out[2..4].copy_from_slice(&sequence.to_be_bytes());
        out[4..8].copy_from_slice(&timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&ssrc.to_be_bytes());
        out[12..].copy_from_slice(payload);
        Some(len)
    }
}

#[cfg(test)]
mod tests;
