//! Audio decoding and WAV output, used by `callrec export`.
//!
//! Pure computation: no I/O, no allocation, no panics on any input.
//!
//! - [`g711`]: A-law and μ-law expansion (table lookups built at compile time) and compression.
//! - [`g722`]: the ITU-T G.722 codec at 64 kbit/s (decoder for export, encoder for tests and the
//!   simulator).
//! - [`wav`]: RIFF WAV headers for 16-bit PCM, A-law and μ-law mono data.

pub mod g711;
pub mod g722;
pub mod wav;
