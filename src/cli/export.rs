//! `callrec export`: a Record file to a RIFF WAV that players understand. PCM16 by default
//! (G.711 expanded, G.722 decoded to 16 kHz); `--keep-codec` keeps G.711 as A-law/μ-law WAV.
//! Streams in fixed-size blocks: memory does not grow with the recording.

use super::CliError;
use callrec_core::audio::g711::{alaw_to_linear, ulaw_to_linear};
use callrec_core::audio::g722::G722Decoder;
use callrec_core::audio::wav::{needs_pad, wav_header, WavFormat};
use callrec_core::codec::Codec;
use callrec_platform::store::reader::RecordReader;
use lexopt::Arg;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const BLOCK: usize = 4096;

pub fn run(mut p: lexopt::Parser) -> Result<(), CliError> {
    let mut paths = Vec::new();
    let mut keep_codec = false;
    let mut range = Range::default();
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("keep-codec") => keep_codec = true,
            Arg::Long("from") => range.from_ms = ms(&mut p)?,
            Arg::Long("to") => range.to_ms = Some(ms(&mut p)?),
            Arg::Value(v) if paths.len() < 2 => paths.push(PathBuf::from(v)),
            other => return Err(other.unexpected().into()),
        }
    }
    let [input, output] = <[PathBuf; 2]>::try_from(paths)
        .map_err(|_| CliError::usage("export needs FILE and OUT.wav"))?;
    let written =
        export(&input, &output, keep_codec, range).map_err(|e| CliError::failed(e.to_string()))?;
    println!(
        "{}: {} ms -> {}",
        input.display(),
        written.duration_ms,
        output.display()
    );
    Ok(())
}

fn ms(p: &mut lexopt::Parser) -> Result<u64, CliError> {
    let v = super::string(p)?;
    v.parse()
        .map_err(|_| CliError::usage(format!("not a number of milliseconds: {v:?}")))
}

/// The part of the recording to export, by time (seeking by whole frames, as the phone does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub from_ms: u64,
    pub to_ms: Option<u64>,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    pub format: WavFormat,
    pub duration_ms: u64,
}

/// Why an export failed, by who is at fault.
#[derive(Debug)]
pub enum ExportError {
    /// The recording cannot be read (not a Record file, or an I/O error): the file.
    Input(PathBuf, String),
    /// The WAV cannot be written: the output's place.
    Output(PathBuf, std::io::Error),
    /// `--keep-codec` of a G.722 recording: the user.
    G722Kept,
    /// `--to` before `--from`: the user.
    ToBeforeFrom,
    /// More than one WAV file holds: the recording.
    TooLong,
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Input(path, e) => write!(f, "{}: {e}", path.display()),
            ExportError::Output(path, e) => write!(f, "{}: {e}", path.display()),
            ExportError::G722Kept => f.write_str(
                "--keep-codec: WAV has no G.722 format players accept; export without it",
            ),
            ExportError::ToBeforeFrom => f.write_str("--to is before --from"),
            ExportError::TooLong => {
                f.write_str("the recording is too long for one WAV file (4 GiB); try --keep-codec")
            }
        }
    }
}

impl std::error::Error for ExportError {}

/// Exports `input` to `output`.
pub fn export(
    input: &Path,
    output: &Path,
    keep_codec: bool,
    range: Range,
) -> Result<Exported, ExportError> {
    let in_err = |e: &dyn std::fmt::Display| ExportError::Input(input.to_owned(), e.to_string());
    let mut reader = RecordReader::open(input).map_err(|e| in_err(&e))?;
    let header = reader.header();
    if reader.stale() {
        log::warn!(
            "{}: header was stale; exporting the recovered data",
            input.display()
        );
    }
    let format = match (header.codec, keep_codec) {
        (Codec::Pcma, true) => WavFormat::Alaw,
        (Codec::Pcmu, true) => WavFormat::Mulaw,
        (Codec::G722, true) => return Err(ExportError::G722Kept),
        (Codec::Pcma | Codec::Pcmu, false) => WavFormat::Pcm16 { sample_rate: 8000 },
        (Codec::G722, false) => WavFormat::Pcm16 {
            sample_rate: 16_000,
        },
    };
    // Output bytes per input byte: 1 kept, 2 for G.711 → PCM16, 4 for G.722 → 16 kHz PCM16.
    let scale: u64 = match format {
        WavFormat::Alaw | WavFormat::Mulaw => 1,
        WavFormat::Pcm16 { sample_rate: 8000 } => 2,
        WavFormat::Pcm16 { .. } => 4,
    };
    let start = header.data_offset_at_ms(range.from_ms);
    let end = range
        .to_ms
        .map_or(u64::from(header.data_size), |t| header.data_offset_at_ms(t));
    if end < start {
        return Err(ExportError::ToBeforeFrom);
    }
    reader.seek_ms(range.from_ms).map_err(|e| in_err(&e))?;
    let mut left = end - start;
    let data_len = left * scale;
    let data_len = u32::try_from(data_len)
        .ok()
        .filter(|&n| n <= u32::MAX - 64)
        .ok_or(ExportError::TooLong)?;
    let out_err = |e: std::io::Error| ExportError::Output(output.to_owned(), e);
    let mut out = BufWriter::new(File::create(output).map_err(out_err)?);
    out.write_all(&wav_header(format, data_len))
        .map_err(out_err)?;

    let mut block = [0u8; BLOCK];
    let mut pcm = [0i16; BLOCK * 2];
    let mut bytes = [0u8; BLOCK * 4];
    let mut g722 = G722Decoder::new();
    while left > 0 {
        let want = block.len().min(left as usize);
        let n = reader.read(&mut block[..want]).map_err(|e| in_err(&e))?;
        if n == 0 {
            break;
        }
        left -= n as u64;
        let input = &block[..n];
        let samples = match (header.codec, format) {
            (_, WavFormat::Alaw | WavFormat::Mulaw) => {
                out.write_all(input).map_err(out_err)?;
                continue;
            }
            (Codec::Pcma, _) => expand(input, &mut pcm, alaw_to_linear),
            (Codec::Pcmu, _) => expand(input, &mut pcm, ulaw_to_linear),
            (Codec::G722, _) => g722.decode(input, &mut pcm),
        };
        for (i, s) in pcm[..samples].iter().enumerate() {
            bytes[2 * i..2 * i + 2].copy_from_slice(&s.to_le_bytes());
        }
        out.write_all(&bytes[..2 * samples]).map_err(out_err)?;
    }
    if needs_pad(data_len) {
        out.write_all(&[0]).map_err(out_err)?;
    }
    out.flush().map_err(out_err)?;
    let frames = (end - start) / u64::from(header.rtp_len);
    Ok(Exported {
        format,
        duration_ms: frames * u64::from(header.increment) * 1000 / 8000,
    })
}

fn expand(input: &[u8], out: &mut [i16], law: fn(u8) -> i16) -> usize {
    for (o, &b) in out.iter_mut().zip(input) {
        *o = law(b);
    }
    input.len()
}
