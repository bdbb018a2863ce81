//! The threads that read the storage for a web side: a fixed number of them and a bounded
//! queue, so neither threads nor queued work grow with the clients. Each connection has at most
//! one job queued or running (an answer, or the next block of a download); when the queue is
//! full anyway, a job is refused and its client answered 503 (or its download cut).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of reader threads.
#[derive(Debug, Clone)]
pub struct Pool {
    jobs: SyncSender<Job>,
}

/// The pool refused a job (its queue was full) or lost it (a thread panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl Pool {
    /// `threads` reader threads sharing a queue of `queue` jobs. The threads end when the last
    /// handle of the pool is dropped.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Pool> {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("http-io-{i}"))
                .spawn(move || work(&rx))?;
        }
        Ok(Pool { jobs: tx })
    }

    /// Queues `f` for a reader thread; its result arrives on the receiver (which fails if the
    /// job panicked).
    pub fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, Refused> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => {
                log::warn!("http: reader queue full; job refused");
                Err(Refused)
            }
            Err(TrySendError::Disconnected(_)) => Err(Refused),
        }
    }

    /// Runs `f` on a reader thread and waits (asynchronously) for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refused> {
        self.submit(f)?.await.map_err(|_| Refused)
    }
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only to take a job; a poisoned one is still a working receiver.
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return, // the pool is gone
        };
        // A panic is a bug: it fails that job (its receiver sees the sender dropped), and the
        // thread goes on serving.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            log::error!("http: a reader job panicked");
        }
    }
}
