//! `callrec info`: what a Record file holds.

use super::CliError;
use callrec_platform::store::reader::RecordReader;
use lexopt::Arg;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Serialize)]
struct Info {
    file: String,
    codec: &'static str,
    frame_bytes: u32,
    increment: u32,
    /// dataSize as the reader trusts it.
    data_size: u32,
    /// dataSize as written in the header.
    header_data_size: u32,
    frames: u64,
    duration_ms: u64,
    stale_header: bool,
}

pub fn run(mut p: lexopt::Parser) -> Result<(), CliError> {
    let mut file = None;
    let mut json = false;
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("json") => json = true,
            Arg::Value(v) if file.is_none() => file = Some(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    let file = file.ok_or_else(|| CliError::usage("info needs a FILE"))?;
    let r = RecordReader::open(&file)
        .map_err(|e| CliError::failed(format!("{}: {e}", file.display())))?;
    let h = r.header();
    let info = Info {
        file: file.display().to_string(),
        codec: h.codec.name(),
        frame_bytes: h.rtp_len,
        increment: h.increment,
        data_size: h.data_size,
        header_data_size: r.header_data_size(),
        frames: h.frames(),
        duration_ms: h.duration_ms(),
        stale_header: r.stale(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).unwrap_or_default()
        );
    } else {
        println!("file:        {}", info.file);
        println!("codec:       {}", info.codec);
        println!("frame bytes: {}", info.frame_bytes);
        println!("increment:   {}", info.increment);
        println!("dataSize:    {}", info.data_size);
        println!("frames:      {}", info.frames);
        println!("duration:    {} ms", info.duration_ms);
        if info.stale_header {
            println!(
                "header:      stale (said {} bytes; recovered {} from the file)",
                info.header_data_size, info.data_size
            );
        } else {
            println!("header:      up to date");
        }
    }
    Ok(())
}
