//! The body of an answer: a buffer made in full (page, JSON, errors) or a [`Source`] streamed
//! block by block. Each block is read and decoded by a job on the reader [`Pool`], queued only
//! when hyper asks for the next frame, i.e. when the previous one is on its way to the client:
//! one block in flight per connection, no thread held while a client is slow, and nothing read
//! at all for a HEAD request or a client that went away.

use super::check::Check;
use bytes::Bytes;
use callrec_platform::download::pool::Pool;
use callrec_platform::download::source::Source;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use hyper::body::{Frame, SizeHint};
use std::io;
use tokio::sync::oneshot;

type Job = oneshot::Receiver<(Source, Option<Box<Check>>, io::Result<Option<Bytes>>)>;

/// The body of an answer.
#[derive(Debug)]
pub enum Body {
    /// All of it at once; `None` once sent (or for an empty body).
    Full(Option<Bytes>),
    /// Made block by block.
    Stream(Streamed),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
    }

    pub fn full(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        Body::Full((!b.is_empty()).then_some(b))
    }

    /// `len` bytes from `source`, read on `pool`.
    pub fn stream(source: Source, len: u64, pool: Pool) -> Body {
        Body::Stream(Streamed {
            source: Some(source),
            check: None,
            job: None,
            left: len,
            pool,
        })
    }

    /// As [`Body::stream`], the files `check` watches checked against their digests as they
    /// are read; the answer ends with an error at the block that completes a file which does
    /// not match (`check.rs`).
    pub fn checked(source: Source, len: u64, pool: Pool, check: Check) -> Body {
        let check = (!check.is_empty()).then(|| Box::new(check));
        Body::Stream(Streamed {
            source: Some(source),
            check,
            job: None,
            left: len,
            pool,
        })
    }
}

/// A body read block by block from a [`Source`].
#[derive(Debug)]
pub struct Streamed {
    /// The source, while no job holds it; `None` at the end.
    source: Option<Source>,
    /// The files being checked as they are read, while no job holds them.
    check: Option<Box<Check>>,
    job: Option<Job>,
    /// Bytes still to send (the promised Content-Length minus what was sent).
    left: u64,
    pool: Pool,
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(s) => s.poll_block(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::Stream(s) => s.left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Stream(s) => SizeHint::with_exact(s.left),
        }
    }
}

impl Streamed {
    fn poll_block(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            if let Some(job) = self.job.as_mut() {
                let done = ready!(Pin::new(job).poll(cx));
                self.job = None;
                let (source, check, result) =
                    done.map_err(|_| io::Error::other("a reader job failed"))?;
                self.check = check;
                return Poll::Ready(match result {
                    Ok(Some(block)) => {
                        let n = block.len() as u64;
                        if n > self.left {
                            Some(Err(io::Error::other("source longer than announced")))
                        } else {
                            self.left -= n;
                            self.source = Some(source);
                            Some(Ok(Frame::data(block)))
                        }
                    }
                    Ok(None) if self.left > 0 => {
                        Some(Err(io::Error::other("source shorter than announced")))
                    }
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                });
            }
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let Some(mut source) = self.source.take() else {
                return Poll::Ready(None);
            };
            let mut check = self.check.take();
            let job = self.pool.submit(move || {
                let Some(c) = check.as_mut() else {
                    let r = source.next_block();
                    return (source, check, r);
                };
                let mut bad = None;
                let r = source.next_block_seen(&mut |i, at, bytes| {
                    if let Some(name) = c.seen(i, at, bytes) {
                        bad = Some(name);
                    }
                });
                let r = match bad {
                    Some(name) => Err(io::Error::other(format!(
                        "{name} does not match its digest"
                    ))),
                    None => r,
                };
                (source, check, r)
            });
            self.job = Some(job.map_err(|_| io::Error::other("reader queue full"))?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Body;
    use callrec_core::codec::Codec;
    use callrec_core::record_file::testing::file_bytes;
    use callrec_platform::download::pool::Pool;
    use callrec_platform::download::source::{Source, WavBlocks, BLOCK};
    use callrec_platform::download::wav::{Part, WavPlan};
    use std::path::{Path, PathBuf};

    /// A Record file of `codec` with `data` as its audio.
    fn record_file(dir: &Path, name: &str, codec: Codec, data: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, file_bytes(codec, data.len(), data)).unwrap();
        path
    }

    #[test]
    fn a_streamed_body_announces_its_length_and_ends_on_a_source_error() {
        use http_body_util::BodyExt;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir =
                std::env::temp_dir().join(format!("callrec-http-body-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let data = vec![0xD5; 3 * BLOCK + 5];
            let path = record_file(&dir, "a.wav", Codec::Pcma, &data);
            let pool = Pool::new(2, 4).unwrap();
            let plan = WavPlan::new(
                vec![Part {
                    codec: Codec::Pcma,
                    data_len: data.len() as u64,
                }],
                Codec::Pcma,
            );
            let len = plan.len();
            let body = Body::stream(
                Source::Wav(Box::new(WavBlocks::new(
                    vec![path.clone()],
                    plan.clone(),
                    0,
                    len,
                ))),
                len,
                pool.clone(),
            );
            assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(len));
            let bytes = body.collect().await.unwrap().to_bytes();
            assert_eq!(bytes.len() as u64, len);
            assert!(bytes[44..].iter().all(|&b| b == 0x08 || b == 0x00));
            // Announcing more than the source holds is an error, not a short answer.
            let body = Body::stream(
                Source::Wav(Box::new(WavBlocks::new(vec![path], plan, 0, len))),
                len + 1,
                pool,
            );
            assert!(body.collect().await.is_err());
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}
