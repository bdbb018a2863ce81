//! `ffmpeg -c copy` as the other recorder: it reads the stream's SDP, binds the RTP port and
//! the RTCP port above it on loopback, and copies the payloads into a raw A-law file until the
//! RTCP BYE ends its input.

use callrec_tools::error::Context;
use callrec_tools::process::Proc;
use callrec_tools::ToolError;
use std::fs::File;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long ffmpeg may take to bind its ports.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running ffmpeg and its RTP port (RTCP is the one above).
pub struct Ffmpeg {
    pub process: Proc,
    pub port: u16,
    pub argv: Vec<String>,
}

/// An even loopback UDP port whose odd neighbour (RTCP) is free too.
pub fn free_rtp_port() -> Result<u16, ToolError> {
    for _ in 0..200 {
        let a = UdpSocket::bind("127.0.0.1:0").context(|| "binding a UDP port".to_string())?;
        let port = a.local_addr().context(|| "a UDP port".to_string())?.port();
        if port % 2 == 1 || port == u16::MAX {
            continue;
        }
        if UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(ToolError::setup("no free RTP/RTCP port pair on 127.0.0.1"))
}

/// The SDP ffmpeg reads: one PCMA stream of 20 ms packets to `port` on loopback.
pub fn sdp(port: u16) -> String {
    callrec_tools::ffmpeg::pcma_sdp("callrec bench", port)
}

/// Whether `/proc/net/udp` (its text) shows a socket bound to 127.0.0.1:`port`, written there
/// as `0100007F:PORT` (hex).
pub fn udp_bound(proc_net_udp: &str, port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    proc_net_udp
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some(local.as_str()))
}

/// Starts ffmpeg with its SDP and log in `dir`, writing `dir/ffmpeg.alaw`, and waits until
/// both its ports are bound: bound means ready, since datagrams that arrive while it still
/// sets up wait in the socket.
pub fn start(dir: &Path) -> Result<Ffmpeg, ToolError> {
    let port = free_rtp_port()?;
    let sdp_path = dir.join("stream.sdp");
    std::fs::write(&sdp_path, sdp(port)).context(|| format!("writing {}", sdp_path.display()))?;
    let argv = callrec_tools::ffmpeg::copy_argv(&sdp_path, &dir.join("ffmpeg.alaw"));
    let log_path = dir.join("ffmpeg.log");
    let log = File::create(&log_path).context(|| format!("making {}", log_path.display()))?;
    let mut process = Proc::spawn(
        "ffmpeg",
        Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    )?;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let udp = std::fs::read_to_string("/proc/net/udp")
            .context(|| "reading /proc/net/udp".to_string())?;
        if udp_bound(&udp, port) && udp_bound(&udp, port + 1) {
            return Ok(Ffmpeg {
                process,
                port,
                argv,
            });
        }
        if process.try_wait().is_some() || Instant::now() > deadline {
            return Err(ToolError::setup(format!(
                "ffmpeg did not open 127.0.0.1:{port}: {}",
                log_text(dir)
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What ffmpeg wrote to its log in `dir`.
pub fn log_text(dir: &Path) -> String {
    std::fs::read(dir.join("ffmpeg.log"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The first three words of `ffmpeg -version` ("ffmpeg version 5.1.6-0+deb12u1").
pub fn version() -> String {
    Command::new("ffmpeg")
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_port_is_found_in_proc_net_udp() {
        let udp = "  sl  local_address rem_address   st\n\
                   \x20 12: 0100007F:9C40 00000000:0000 07\n\
                   \x20 13: 00000000:9C42 00000000:0000 07\n";
        assert!(udp_bound(udp, 40000));
        assert!(!udp_bound(udp, 40002), "bound on 0.0.0.0, not loopback");
        assert!(!udp_bound(udp, 40001));
    }

    #[test]
    fn the_sdp_names_the_port_and_the_codec() {
        let s = sdp(40000);
        assert!(s.contains("m=audio 40000 RTP/AVP 8\r\n"), "{s}");
        assert!(s.contains("a=rtpmap:8 PCMA/8000\r\n"), "{s}");
        assert!(s.starts_with("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"), "{s}");
        let port = free_rtp_port().unwrap();
        assert_eq!(port % 2, 0);
    }
}
