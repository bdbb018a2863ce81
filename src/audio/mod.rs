//! Audio decoding and WAV output, used by `callrec export`.
