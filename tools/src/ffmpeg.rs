//! `ffmpeg -c copy` as the benchmarks' other recorder: the SDP of one PCMA stream on loopback
//! and the command line that copies its payloads into a raw A-law file until the RTCP BYE ends
//! its input.

use std::path::Path;

/// The SDP ffmpeg reads: one PCMA stream of 20 ms packets to 127.0.0.1:`port` (RTCP the port
/// above), in a session named `session`.
pub fn pcma_sdp(session: &str, port: u16) -> String {
    format!(
        "v=0\r\n\
         o=- 0 0 IN IP4 127.0.0.1\r\n\
         s={session}\r\n\
         c=IN IP4 127.0.0.1\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 8\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=ptime:20\r\n"
    )
}

/// `ffmpeg` reading the SDP file `sdp` (its ports bound on loopback only) and writing the
/// payloads as they are into `out`.
pub fn copy_argv(sdp: &Path, out: &Path) -> Vec<String> {
    let mut argv: Vec<String> = [
        "ffmpeg",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file,udp,rtp",
        // Bind the RTP/RTCP ports on loopback only.
        "-localaddr",
        "127.0.0.1",
        "-i",
    ]
    .map(String::from)
    .to_vec();
    argv.push(sdp.display().to_string());
    argv.extend(["-c", "copy", "-f", "alaw", "-y"].map(String::from));
    argv.push(out.display().to_string());
    argv
}
