//! RIFF WAV headers for mono 16-bit PCM, A-law and μ-law data.
//!
//! [`wav_header`] gives the exact bytes that precede the sample data; the caller writes the
//! header, the data and, when [`needs_pad`] says so, one zero pad byte (RIFF chunks are
//! word-aligned). No I/O happens here.
//!
//! Layouts (all integers little-endian):
//!
//! - PCM16 (44 bytes): `RIFF` size `WAVE`, a 16-byte `fmt ` chunk (tag 1), `data` length.
//! - A-law / μ-law (58 bytes): `RIFF` size `WAVE`, an 18-byte `fmt ` chunk (tag 6 or 7, 8000 Hz,
//!   8 bits, `cbSize` 0), a `fact` chunk holding the sample count, `data` length. This is the
//!   form that non-PCM WAV files must take and that ffmpeg and sox write and expect.

/// The longest header [`wav_header`] returns (A-law and μ-law).
pub const MAX_HEADER_LEN: usize = 58;

/// Header bytes as returned by [`wav_header`].
pub type WavHeader = heapless::Vec<u8, 64>;

/// Sample rate of G.711 data.
const G711_RATE: u32 = 8000;

/// What the data chunk holds. Always mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WavFormat {
    /// Signed 16-bit little-endian linear PCM at `sample_rate` Hz.
    Pcm16 { sample_rate: u32 },
    /// G.711 A-law, 8000 Hz, one byte per sample.
    Alaw,
    /// G.711 μ-law, 8000 Hz, one byte per sample.
    Mulaw,
}

impl WavFormat {
    /// The `wFormatTag` of the `fmt ` chunk.
    pub fn format_tag(self) -> u16 {
        match self {
            WavFormat::Pcm16 { .. } => 1,
            WavFormat::Alaw => 6,
            WavFormat::Mulaw => 7,
        }
    }

    /// Samples per second.
    pub fn sample_rate(self) -> u32 {
        match self {
            WavFormat::Pcm16 { sample_rate } => sample_rate,
            WavFormat::Alaw | WavFormat::Mulaw => G711_RATE,
        }
    }

    /// Bytes per sample (the block alignment, as the data is mono).
    pub fn bytes_per_sample(self) -> u16 {
        match self {
            WavFormat::Pcm16 { .. } => 2,
            WavFormat::Alaw | WavFormat::Mulaw => 1,
        }
    }

    /// Length of the header [`wav_header`] returns for this format.
    pub fn header_len(self) -> usize {
        match self {
            WavFormat::Pcm16 { .. } => 44,
            WavFormat::Alaw | WavFormat::Mulaw => MAX_HEADER_LEN,
        }
    }
}

/// Whether a data chunk of `data_len` bytes must be followed by one pad byte (RIFF requires
/// every chunk to start on an even offset).
pub fn needs_pad(data_len: u32) -> bool {
    data_len % 2 == 1
}

/// The header that precedes `data_len` bytes of sample data in `format`.
///
/// The RIFF size counts the pad byte when `data_len` is odd. Sizes that do not fit in 32 bits
/// (a data length within 52 bytes of 4 GiB, or a PCM rate above 2^31 Hz) saturate at
/// `u32::MAX`; ffmpeg and most readers take that as "unknown, read to the end".
pub fn wav_header(format: WavFormat, data_len: u32) -> WavHeader {
    let mut buf = [0u8; MAX_HEADER_LEN];
    let mut w = Writer {
        buf: &mut buf,
        at: 0,
    };
    // Everything after the 8-byte RIFF chunk header, minus the data itself.
    let riff_overhead = format.header_len() as u32 - 8;
    let riff_size = riff_overhead
        .saturating_add(data_len)
        .saturating_add(u32::from(needs_pad(data_len)));
    let bytes_per_sample = format.bytes_per_sample();

    w.put(b"RIFF");
    w.put_u32(riff_size);
    w.put(b"WAVE");
    w.put(b"fmt ");
    let is_pcm = matches!(format, WavFormat::Pcm16 { .. });
    w.put_u32(if is_pcm { 16 } else { 18 });
    w.put_u16(format.format_tag());
    w.put_u16(1); // channels
    w.put_u32(format.sample_rate());
    w.put_u32(
        format
            .sample_rate()
            .saturating_mul(u32::from(bytes_per_sample)),
    );
    w.put_u16(bytes_per_sample); // block align, mono
    w.put_u16(bytes_per_sample * 8);
    if !is_pcm {
        w.put_u16(0); // cbSize: no extra format bytes
        w.put(b"fact");
        w.put_u32(4);
        w.put_u32(data_len); // sample count: one byte per sample
    }
    w.put(b"data");
    w.put_u32(data_len);
    let len = w.at;

    // The array is no longer than the vector's capacity: checked at compile time.
    let mut header = WavHeader::from_array(buf);
    header.truncate(len);
    header
}

/// Appends little-endian fields to a fixed buffer. Callers write at most its length.
struct Writer<'a> {
    buf: &'a mut [u8; MAX_HEADER_LEN],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        // Out-of-range writes are dropped rather than panicking; the layouts above fit exactly
        // (the tests check every header's length).
        if let Some(dst) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }

    fn put_u16(&mut self, value: u16) {
        self.put(&value.to_le_bytes());
    }

    fn put_u32(&mut self, value: u32) {
        self.put(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests;
