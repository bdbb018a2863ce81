//! Record files for tests of the crates that read them (downloads, the agent's and the server's
//! web sides). Not used by the product.

use super::Header;
use crate::codec::Codec;

/// The bytes of a Record file of `codec` in 20 ms frames (160 bytes, increment 160) whose header
/// claims `claimed` bytes of audio, followed by all of `data`: a header that is up to date when
/// `claimed == data.len()`, stale when less.
pub fn file_bytes(codec: Codec, claimed: usize, data: &[u8]) -> Vec<u8> {
    let header = Header {
        codec,
        rtp_len: 160,
        increment: 160,
        data_size: u32::try_from(claimed).expect("a test file under 4 GiB"),
    };
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(data);
    bytes
}
