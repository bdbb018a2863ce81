//! Reads a Record file from disk, recovering a header that lagged behind the data.

use callrec_core::record_file::{recover, Header, HeaderError, Recovered, HEADER_LEN};
use core::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Why a Record file cannot be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(io::Error),
    /// The file is not a Record file.
    Format(HeaderError),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Format(e) => write!(f, "not a Record file: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// An open Record file: its (recovered) header and a cursor over the audio data.
#[derive(Debug)]
pub struct RecordReader {
    file: File,
    recovered: Recovered,
    file_len: u64,
    /// Position within the data (not counting the header).
    pos: u64,
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<RecordReader, ReadError> {
        let mut file = File::open(path)?;
        let file_len = file.metadata()?.len();
        let mut head = [0u8; HEADER_LEN];
        let n = read_up_to(&mut file, &mut head)?;
        let header = Header::decode(&head[..n]).map_err(ReadError::Format)?;
        Ok(RecordReader {
            file,
            recovered: recover(header, file_len),
            file_len,
            pos: 0,
        })
    }

    /// The header with `data_size` set to the audio that can be trusted.
    pub fn header(&self) -> Header {
        self.recovered.header
    }

    /// The header's `dataSize` did not match the file (the writer was cut off).
    pub fn stale(&self) -> bool {
        self.recovered.stale
    }

    /// `dataSize` as written in the file.
    pub fn header_data_size(&self) -> u32 {
        self.recovered.header_data_size
    }

    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Moves to the frame that holds time `ms` (clamped to the end).
    pub fn seek_ms(&mut self, ms: u64) -> io::Result<()> {
        self.pos = self.recovered.header.data_offset_at_ms(ms);
        self.file
            .seek(SeekFrom::Start(HEADER_LEN as u64 + self.pos))?;
        Ok(())
    }

    /// Reads audio data; 0 at the end of the trusted data.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = u64::from(self.recovered.header.data_size) - self.pos;
        let want = buf.len().min(left.min(usize::MAX as u64) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = read_up_to(&mut self.file, &mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while reading",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads until `buf` is full or the file ends (retrying interrupted reads); returns the count.
pub fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
