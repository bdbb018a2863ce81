//! The record server's media path: shard threads, each owning a set of sessions. Every 100 ms a
//! shard drains all its sessions' UDP sockets in batches (with kernel arrival times), feeds the
//! phone's packets to each session's [`Recorder`] (the same core as the phone's local recording)
//! and performs the file operations. Which datagrams are recorded is each session's
//! [`RtpGate`]'s call (the latch to the phone's source, the flood limit); the rest are dropped
//! and counted, and the timeline keeps to the wall clock: [`MAX_AHEAD_MS`] ahead of it at most,
//! and only for the phone's backlog in the opening burst after a start or a resume; after that
//! burst, no more than [`callrec_core::timeline::LEAD_JITTER_MS`] past the lead the backlog
//! gave (see [`callrec_core::timeline`]). Commands from the control connections arrive on a
//! bounded channel. When a session ends is its connection's business
//! (`callrec_core::net_server`): a shard ends one by itself only when its storage fails or falls
//! below the reserve ([`crate::space`]: then every session ends, `storage_full`, while there is
//! room to finish it), and keeps the time of its last RTP for the connection's idle timer.
//!
//! Logs: a shard runs for everyone who can send a datagram, so anything it may log per packet,
//! per cycle or per session goes through [`crate::limited!`] (see [`crate::logs`]).

use super::catalog::Catalog;
use super::digest::Hashing;
use super::logs::Kind;
use super::metrics::{Packets, METRICS};
use super::space::{Finals, Space};
use super::store::{update_sidecar, Sidecar, Slot};
use callrec_core::net_server::MediaEnd;
use callrec_core::record_file::FAT32_MAX_FILE;
use callrec_core::recorder::{Recorder, RecorderConfig, StickState, StopReason};
use callrec_core::rtp_gate::{GateLimits, RtpGate, Verdict};
use callrec_core::timeline::TimelineConfig;
use callrec_platform::clock::{unix_seconds, Clock, SystemClock};
use callrec_platform::store::fs::{DirFile, DirStorage};
use callrec_platform::store::writer::{Done, Durability, OpenRecord, RecordWriter};
use callrec_platform::store::{Storage, StorageError};
use callrec_platform::udp::{arrival_ms, BatchReceiver};
use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often a shard drains its sockets and serves deadlines.
pub const CYCLE: Duration = Duration::from_millis(100);

/// [`MediaSession::last_rtp_ms`] before the phone's first datagram.
pub const NO_RTP: u64 = u64::MAX;

/// How far a recording may run ahead of the wall clock in the opening burst after a start or a
/// resume ([`TimelineConfig::max_ahead_ms`]): the phone agent's backlog, sent at once when the
/// server answers, in G.711 (8 bytes a ms).
pub const MAX_AHEAD_MS: u64 = callrec_core::backlog::BACKLOG_BYTES as u64 / 8;

/// How a session ended, for its control connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub reason: String,
    pub sidecar: Sidecar,
}

/// A command for a shard.
pub enum Command {
    Add(Box<MediaSession>),
    Stop {
        id: String,
        reason: String,
        reply: oneshot::Sender<Option<Ended>>,
    },
    Pause {
        id: String,
        reply: oneshot::Sender<bool>,
    },
    Resume {
        id: String,
        reply: oneshot::Sender<bool>,
    },
}

/// One recording session on the server.
pub struct MediaSession {
    pub id: String,
    pub peer: IpAddr,
    pub socket: UdpSocket,
    /// When RTP from the phone last arrived (ms on the shared clock; [`NO_RTP`] before the
    /// first), for the connection's idle and no-RTP timers.
    pub last_rtp_ms: Arc<AtomicU64>,
    /// Told when the session ends by itself (a storage failure, the reserve reached), and how.
    pub ended: Option<oneshot::Sender<MediaEnd>>,
    recorder: Recorder,
    slot: Slot,
    sidecar: Sidecar,
    writer: RecordWriter<Hashing<DirFile>>,
    files_opened: u32,
    /// Which datagrams are the phone's and within its codec's rate.
    gate: RtpGate,
    catalog: Catalog,
    finals: Finals,
    /// What of its statistics `/metrics` has counted ([`crate::metrics`]).
    counted: Packets,
}

impl MediaSession {
    /// A session that starts recording now.
    pub fn new(
        id: String,
        peer: IpAddr,
        socket: UdpSocket,
        slot: Slot,
        sidecar: Sidecar,
        finals: Finals,
        now_ms: u64,
    ) -> MediaSession {
        let base = RecorderConfig::default();
        let cfg = RecorderConfig {
            timeline: TimelineConfig {
                max_ahead_ms: Some(MAX_AHEAD_MS),
                ..base.timeline
            },
            size_limit: FAT32_MAX_FILE,
            reserve_bytes: 0,
            ..base
        };
        let mut recorder = Recorder::new(cfg);
        // The server watches its own free space (crate::space) and ends its sessions itself.
        let room = StickState {
            present: true,
            read_only: false,
            free_bytes: u64::MAX,
        };
        let _ = recorder.start(now_ms, room);
        MediaSession {
            id,
            peer,
            socket,
            last_rtp_ms: Arc::new(AtomicU64::new(NO_RTP)),
            ended: None,
            recorder,
            slot,
            sidecar,
            writer: RecordWriter::new(Durability::SyncAtClose),
            files_opened: 0,
            gate: RtpGate::new(peer, GateLimits::default(), now_ms),
            catalog: finals.catalog().clone(),
            finals,
            counted: Packets::default(),
        }
    }

    /// Hands what waits on the socket to the gate and the recorder, each datagram at its
    /// arrival time on `clock` ([`arrival_ms`], read as it is handed over: a cycle that reaches
    /// this session late must not make its packets look early), then serves the deadlines.
    fn receive(&mut self, rx: &mut BatchReceiver, clock: &impl Clock) {
        let (gate, recorder) = (&mut self.gate, &mut self.recorder);
        let mut got = false;
        let r = rx.drain(&self.socket, |datagram, env| {
            let at = arrival_ms(env.arrival, clock);
            let verdict = gate.check(env.from, at, datagram);
            // Past the flood limit or not, the phone is there.
            got |= verdict.is_from_phone();
            if verdict == Verdict::Record {
                recorder.handle_datagram(at, datagram);
            }
        });
        if let Err(e) = r {
            crate::limited!(Kind::Media, "session {}: receive: {e}", self.slot.stem);
        }
        let now_ms = clock.now_ms();
        if got {
            self.last_rtp_ms.store(now_ms, Ordering::Relaxed);
        }
        while self.recorder.poll_timeout().is_some_and(|t| t <= now_ms) {
            self.recorder.handle_timeout(now_ms);
        }
        self.perform_ops();
        let now = self.packets();
        METRICS.packets(&mut self.counted, &now, false);
    }

    /// The statistics so far, as the sidecar counts them.
    fn packets(&self) -> Packets {
        let s = self.recorder.stats();
        let (t, g) = (s.timeline, self.gate.stats());
        Packets {
            received: t.received + g.strangers + g.flood_dropped,
            // In `Dropped::ALL`'s order.
            dropped: [
                t.late,
                t.duplicates,
                t.malformed_total() + t.unknown_payload_type + t.oversized,
                g.strangers,
                g.flood_dropped + t.too_early,
            ],
            reordered: t.reordered,
            lost: t.lost,
        }
    }

    fn perform_ops(&mut self) {
        while let Some(op) = self.recorder.poll_op() {
            let (slot, opened) = (&self.slot, &mut self.files_opened);
            let create = || {
                *opened += 1;
                let name = slot.file_name(*opened);
                match DirStorage::new(&slot.dir).create_new(&name)? {
                    Some(f) => Ok((Hashing::new(f), name)),
                    None => Err(StorageError::NamesExhausted),
                }
            };
            match self.writer.perform(op, create) {
                Ok(Done::Opened) => {
                    if let Some(open) = self.writer.current() {
                        self.sidecar.files.push(open.name.clone());
                    }
                    // The sidecar lists every file from its opening on, so a restart after a
                    // crash knows what to repair.
                    match update_sidecar(&self.slot, &self.sidecar) {
                        Ok(()) => self.catalog.put_slot(&self.slot, &self.sidecar),
                        Err(e) => {
                            crate::limited!(
                                Kind::Storage,
                                "session {}: sidecar: {e}",
                                self.slot.stem
                            )
                        }
                    }
                }
                Ok(Done::Wrote) => {}
                Ok(Done::Closed(open)) => self.keep_digest(&open),
                Err(e) => {
                    crate::limited!(Kind::Storage, "session {}: storage: {e}", self.slot.stem);
                    self.recorder.abort(e.stop_reason());
                    if let Some(open) = self.writer.salvage() {
                        self.keep_digest(&open);
                    }
                    break;
                }
            }
        }
    }

    /// Puts a closed file's digest into the sidecar, for its next write (at the next file's
    /// opening, or the final one).
    fn keep_digest(&mut self, open: &OpenRecord<Hashing<DirFile>>) {
        if let Some(d) = open.file.digest() {
            self.sidecar.digests.insert(open.name.clone(), d.hex());
        }
    }

    fn stats_into_sidecar(&mut self) {
        self.sidecar.duration_ms = self.recorder.stats().recorded_ms;
        let p = self.packets();
        let [late, duplicates, malformed, from_strangers, flood_dropped] = p.dropped;
        self.sidecar.stats = super::store::Stats {
            received: p.received,
            lost: p.lost,
            reordered: p.reordered,
            duplicates,
            late,
            malformed,
            from_strangers,
            flood_dropped,
        };
        METRICS.packets(&mut self.counted, &p, true);
    }

    /// Ends the recording: closes the file and writes the final sidecar (kept for a retry if
    /// the storage refuses it, [`Finals`]).
    fn finish(&mut self, reason: &str) -> Ended {
        let _ = self.recorder.stop(StopReason::Requested);
        self.perform_ops();
        self.stats_into_sidecar();
        self.sidecar.stop_ms = Some(unix_ms());
        self.sidecar.stop_reason = Some(reason.to_owned());
        self.finals.write(&self.slot, &self.sidecar);
        log::info!(
            "session {} ended ({reason}): {} ms, {} packets",
            self.slot.stem,
            self.sidecar.duration_ms,
            self.sidecar.stats.received
        );
        Ended {
            reason: reason.to_owned(),
            sidecar: self.sidecar.clone(),
        }
    }
}

/// Unix time in ms.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(unix_seconds() as u64 * 1000, |d| d.as_millis() as u64)
}

/// Runs one shard until its command channel closes, then ends its sessions. While `space` is
/// full, every session ends at the next cycle.
pub fn run_shard(commands: Receiver<Command>, clock: SystemClock, space: Space) {
    let mut rx = BatchReceiver::new();
    let mut sessions: Vec<MediaSession> = Vec::new();
    let mut next = Instant::now() + CYCLE;
    loop {
        // Commands, as they come, until the cycle is due.
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match commands.recv_timeout(wait) {
                Ok(cmd) => handle(cmd, &mut sessions, &mut rx, &clock),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    for mut s in sessions.drain(..) {
                        s.receive(&mut rx, &clock);
                        s.finish("server shutdown");
                    }
                    return;
                }
            }
        }
        next += CYCLE;
        if next < Instant::now() {
            // Fell behind (a slow disk): skip the lost cycles rather than spin.
            next = Instant::now() + CYCLE;
        }
        serve(&mut sessions, &mut rx, &clock, space.is_full());
    }
}

/// One cycle: drains every session's socket and ends those whose storage failed, or all of
/// them if `full`.
fn serve(sessions: &mut Vec<MediaSession>, rx: &mut BatchReceiver, clock: &impl Clock, full: bool) {
    let mut i = 0;
    while i < sessions.len() {
        sessions[i].receive(rx, clock);
        // The recorder stops by itself only when its storage fails.
        let how = if sessions[i].recorder.state() == callrec_core::recorder::State::Idle {
            Some(MediaEnd::StorageFailure)
        } else if full {
            Some(MediaEnd::StorageFull)
        } else {
            None
        };
        if let Some(how) = how {
            let mut s = sessions.swap_remove(i);
            s.finish(how.reason());
            if let Some(tx) = s.ended.take() {
                let _ = tx.send(how);
            }
        } else {
            i += 1;
        }
    }
}

fn handle(
    cmd: Command,
    sessions: &mut Vec<MediaSession>,
    rx: &mut BatchReceiver,
    clock: &impl Clock,
) {
    let find = |sessions: &Vec<MediaSession>, id: &str| sessions.iter().position(|s| s.id == id);
    match cmd {
        Command::Add(s) => sessions.push(*s),
        Command::Stop { id, reason, reply } => {
            let ended = find(sessions, &id).map(|i| {
                let mut s = sessions.swap_remove(i);
                // What reached the socket before the stop belongs to the recording.
                s.receive(rx, clock);
                s.finish(&reason)
            });
            let _ = reply.send(ended);
        }
        Command::Pause { id, reply } => {
            let ok = find(sessions, &id).is_some_and(|i| {
                let s = &mut sessions[i];
                s.receive(rx, clock);
                let ok = s.recorder.pause().is_ok();
                s.perform_ops();
                ok
            });
            let _ = reply.send(ok);
        }
        Command::Resume { id, reply } => {
            let ok = find(sessions, &id).is_some_and(|i| {
                let s = &mut sessions[i];
                // What is queued arrived while paused: not recorded. The phone sends again only
                // after the answer to its resume, which goes out after this.
                s.receive(rx, clock);
                s.recorder.resume(clock.now_ms()).is_ok()
            });
            let _ = reply.send(ok);
        }
    }
}

#[cfg(test)]
mod tests;
