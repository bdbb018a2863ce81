//! Compresses the settings page's files (src/agent/web/assets/) with gzip at build time, so the
//! phone binary carries about a quarter of their size; the agent serves them as they are, with
//! `Content-Encoding: gzip`.

use std::io::Write;
use std::path::Path;

const ASSETS: [&str; 5] = ["login.html", "login.js", "app.html", "app.js", "style.css"];

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    for name in ASSETS {
        let src = Path::new("src/agent/web/assets").join(name);
        println!("cargo:rerun-if-changed={}", src.display());
        let data = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let mut f = std::fs::File::create(Path::new(&out).join(format!("{name}.gz")))
            .expect("OUT_DIR is writable");
        f.write_all(&gzip(&data)).expect("OUT_DIR is writable");
    }
}

/// A gzip member (RFC 1952): header, raw deflate at the highest level, CRC-32, length.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 10));
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE, reflected), bit by bit: a few kilobytes at build time.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
