//! The recording state machine: start, stop, pause, resume, the commit timer and the stick's
//! capacity, over the timeline and the writer.
//!
//! Commands, datagrams, the time and the stick's state come in as arguments; [`FileOp`]s and the
//! next deadline come out through [`Recorder::poll_op`] and [`Recorder::poll_timeout`]. The
//! caller performs each op and reports a storage failure with [`Recorder::abort`].

use super::codec::{Codec, RTP_CLOCK_HZ};
use super::timeline::{Timeline, TimelineConfig, TimelineStats};
use super::writer::{FileOp, RecordWriter};
use core::fmt;

/// Settings of a recording; a change applies from the next start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    pub timeline: TimelineConfig,
    /// Largest `Record_` file, header included; the next file starts past it.
    pub size_limit: u64,
    /// Free space on the stick that recording never uses.
    pub reserve_bytes: u64,
    /// How often the header catches up and the data is synced to the device, in ms.
    pub commit_interval_ms: u64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            timeline: TimelineConfig::default(),
            size_limit: 100 * 1024 * 1024,
            reserve_bytes: 16 * 1024 * 1024,
            commit_interval_ms: 1000,
        }
    }
}

/// Room needed beyond the reserve to start: a few seconds of audio.
pub const MIN_START_ROOM: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    Recording,
    Paused,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Recording => "recording",
            State::Paused => "paused",
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Someone asked (the user, the API).
    Requested,
    /// The agent is shutting down.
    Shutdown,
    /// The stick was pulled out or unmounted.
    StickRemoved,
    /// The stick became read-only.
    StickReadOnly,
    /// The stick has no room left beyond the reserve.
    StickFull,
    /// The stick failed a write (EIO and the like).
    WriteError,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Requested => "requested",
            StopReason::Shutdown => "shutdown",
            StopReason::StickRemoved => "stick_removed",
            StopReason::StickReadOnly => "stick_read_only",
            StopReason::StickFull => "stick_full",
            StopReason::WriteError => "write_error",
        }
    }

    /// In words, for the phone's failure prompt.
    pub fn message(self) -> &'static str {
        match self {
            StopReason::Requested => "stopped as asked",
            StopReason::Shutdown => "the agent stopped",
            StopReason::StickRemoved => "the USB stick was removed",
            StopReason::StickReadOnly => "the USB stick became read-only",
            StopReason::StickFull => "the USB stick has no room beyond the reserve",
            StopReason::WriteError => "writing to the USB stick failed",
        }
    }

    /// True when the recording ended because something went wrong.
    pub fn is_failure(self) -> bool {
        !matches!(self, StopReason::Requested | StopReason::Shutdown)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a command was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AlreadyRecording,
    NotRecording,
    NotPaused,
    AlreadyPaused,
    NoStick,
    StickReadOnly,
    StickFull,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::AlreadyRecording => "already_recording",
            Refusal::NotRecording => "not_recording",
            Refusal::NotPaused => "not_paused",
            Refusal::AlreadyPaused => "already_paused",
            Refusal::NoStick => "no_stick",
            Refusal::StickReadOnly => "stick_read_only",
            Refusal::StickFull => "stick_full",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::AlreadyRecording => "a recording is already running",
            Refusal::NotRecording => "no recording is running",
            Refusal::NotPaused => "the recording is not paused",
            Refusal::AlreadyPaused => "the recording is already paused",
            Refusal::NoStick => "no USB stick is inserted",
            Refusal::StickReadOnly => "the USB stick is read-only",
            Refusal::StickFull => "the USB stick has no room beyond the reserve",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// What the caller knows about the stick when a recording starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StickState {
    pub present: bool,
    pub read_only: bool,
    pub free_bytes: u64,
}

/// Counters of one recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    pub timeline: TimelineStats,
    /// Length of the recording so far (audio and silence; paused time is not in it).
    pub recorded_ms: u64,
    /// Packets that arrived while paused (not recorded).
    pub paused_packets: u64,
    /// Ticks replaced by silence because writes fell behind.
    pub overflow_ticks: u64,
    pub codec: Option<Codec>,
}

/// See the module doc.
#[derive(Debug)]
pub struct Recorder {
    cfg: RecorderConfig,
    state: State,
    timeline: Timeline,
    writer: RecordWriter,
    next_commit_ms: Option<u64>,
    last_stop: Option<StopReason>,
    paused_packets: u64,
}

impl Recorder {
    pub fn new(cfg: RecorderConfig) -> Recorder {
        Recorder {
            cfg,
            state: State::Idle,
            timeline: Timeline::new(cfg.timeline),
            writer: RecordWriter::new(cfg.size_limit),
            next_commit_ms: None,
            last_stop: None,
            paused_packets: 0,
        }
    }

    /// New settings, for the next recording (one in progress keeps its own).
    pub fn set_config(&mut self, cfg: RecorderConfig) {
        self.cfg = cfg;
    }

    pub fn config(&self) -> &RecorderConfig {
        &self.cfg
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Why the last recording ended, until the next one starts.
    pub fn last_stop(&self) -> Option<StopReason> {
        self.last_stop
    }

    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            timeline: self.timeline.stats(),
            recorded_ms: self.timeline.position() * 1000 / u64::from(RTP_CLOCK_HZ),
            paused_packets: self.paused_packets,
            overflow_ticks: self.writer.overflow_ticks(),
            codec: self.timeline.codec(),
        }
    }

    pub fn start(&mut self, now_ms: u64, stick: StickState) -> Result<(), Refusal> {
        if self.state != State::Idle {
            return Err(Refusal::AlreadyRecording);
        }
        if !stick.present {
            return Err(Refusal::NoStick);
        }
        if stick.read_only {
            return Err(Refusal::StickReadOnly);
        }
        if stick.free_bytes < self.cfg.reserve_bytes.saturating_add(MIN_START_ROOM) {
            return Err(Refusal::StickFull);
        }
        self.timeline.reset(self.cfg.timeline);
        self.writer.reset(self.cfg.size_limit);
        self.state = State::Recording;
        self.next_commit_ms = Some(now_ms + self.cfg.commit_interval_ms);
        self.last_stop = None;
        self.paused_packets = 0;
        Ok(())
    }

    /// Ends the recording: everything waiting is written and the file closed.
    pub fn stop(&mut self, reason: StopReason) -> Result<(), Refusal> {
        if self.state == State::Idle {
            return Err(Refusal::NotRecording);
        }
        self.timeline.flush(&mut self.writer);
        self.writer.close();
        self.state = State::Idle;
        self.next_commit_ms = None;
        self.last_stop = Some(reason);
        Ok(())
    }

    /// Ends the recording without writing anything more: the stick failed. What is on the
    /// stick stays as it is (the caller salvages the open file's header if it can).
    pub fn abort(&mut self, reason: StopReason) {
        let stats = self.stats();
        self.writer.reset(self.cfg.size_limit);
        self.timeline.flush(&mut NullSink);
        // A failure while closing after a stop keeps the first failure as the reason.
        let keep = self.state == State::Idle && self.last_stop.is_some_and(StopReason::is_failure);
        if !keep {
            self.last_stop = Some(reason);
        }
        self.state = State::Idle;
        self.next_commit_ms = None;
        log::debug!("recording aborted after {} ms", stats.recorded_ms);
    }

    pub fn pause(&mut self) -> Result<(), Refusal> {
        match self.state {
            State::Idle => Err(Refusal::NotRecording),
            State::Paused => Err(Refusal::AlreadyPaused),
            State::Recording => {
                self.timeline.flush(&mut self.writer);
                self.writer.flush();
                self.state = State::Paused;
                Ok(())
            }
        }
    }

    pub fn resume(&mut self, now_ms: u64) -> Result<(), Refusal> {
        match self.state {
            State::Idle => Err(Refusal::NotRecording),
            State::Recording => Err(Refusal::NotPaused),
            State::Paused => {
                self.timeline.restart_at_end();
                self.state = State::Recording;
                self.next_commit_ms = Some(now_ms + self.cfg.commit_interval_ms);
                Ok(())
            }
        }
    }

    /// A datagram from the tap.
    pub fn handle_datagram(&mut self, now_ms: u64, datagram: &[u8]) {
        match self.state {
            State::Recording => {
                self.timeline.push(now_ms, datagram, &mut self.writer);
                if self.writer.wants_flush() {
                    self.writer.flush();
                }
            }
            State::Paused => self.paused_packets += 1,
            State::Idle => {}
        }
    }

    /// When [`Recorder::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.state != State::Recording {
            return None;
        }
        match (self.timeline.poll_timeout(), self.next_commit_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Releases packets that waited long enough; returns true when a commit is due, after
    /// which the caller checks the free space ([`Recorder::handle_free_space`]) and drains ops.
    pub fn handle_timeout(&mut self, now_ms: u64) -> bool {
        if self.state != State::Recording {
            return false;
        }
        self.timeline.handle_timeout(now_ms, &mut self.writer);
        match self.next_commit_ms {
            Some(due) if due <= now_ms => {
                self.writer.flush();
                // Keep the cadence, but never fire twice for one late wake-up.
                let next = due + self.cfg.commit_interval_ms;
                self.next_commit_ms = Some(if next <= now_ms {
                    now_ms + self.cfg.commit_interval_ms
                } else {
                    next
                });
                true
            }
            _ => false,
        }
    }

    /// The stick's free space (statvfs), checked at each commit. A recording that would eat
    /// into the reserve stops with [`StopReason::StickFull`], keeping what is pending.
    pub fn handle_free_space(&mut self, free_bytes: u64) -> bool {
        if self.state == State::Idle {
            return false;
        }
        let needed = self
            .cfg
            .reserve_bytes
            .saturating_add(self.writer.pending_bytes());
        if free_bytes < needed {
            log::warn!(
                "stick full: {free_bytes} bytes free, reserve {}",
                self.cfg.reserve_bytes
            );
            let _ = self.stop(StopReason::StickFull);
            return true;
        }
        false
    }

    /// The next file operation to perform.
    pub fn poll_op(&mut self) -> Option<FileOp<'_>> {
        self.writer.poll_op()
    }

    /// True while file operations are pending.
    pub fn has_ops(&self) -> bool {
        !self.writer.is_idle()
    }
}

/// Discards audio (what is left in the window when the stick has failed).
struct NullSink;

impl super::timeline::AudioSink for NullSink {
    fn set_codec(&mut self, _: Codec, _: usize) {}
    fn silence(&mut self, _: u64) {}
    fn audio(&mut self, _: &[u8]) {}
}

#[cfg(test)]
mod tests;
