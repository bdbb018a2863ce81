//! Downloads of Record files over HTTP, shared by the record server's web side and the agent's
//! web API (a stick's recordings): a file as stored or as a PCM16 WAV decoded on the fly,
//! streamed block by block, with `Range`. Nothing here knows who serves it or where the files
//! live; the caller picks the files and builds the answer's status and headers.
//!
//! - Sans-IO: [`range`] (the `Range` header), [`wav`] (the WAV made from Record files: lengths,
//!   header, offsets, decoding).
//! - I/O: [`source`] reads a file, or decodes Record files, one block per call.
//! - The drivers: the record server's hyper body and the agent's own
//!   HTTP layer (`agent::http`) stream a [`source::Source`] one block in flight at a time; each
//!   block is read on the reader threads of [`pool`] (a fixed number with a bounded queue: four
//!   on the server, one on a phone), so the runtime thread never waits for a disk and a slow
//!   client holds no thread. [`guard`] drops a client that stops reading.

pub mod guard;
pub mod pool;
pub mod range;
pub mod source;
pub mod wav;

#[cfg(test)]
mod tests;
