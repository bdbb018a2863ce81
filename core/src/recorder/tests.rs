use super::*;
use crate::rtp::RtpPacket;
use crate::test_disk::Disk;

const ROOMY: StickState = StickState {
    present: true,
    read_only: false,
    free_bytes: 1 << 40,
};

fn cfg() -> RecorderConfig {
    RecorderConfig {
        timeline: TimelineConfig {
            window: 3,
            hold_ms: 60,
            telephone_event_pt: 101,
            max_ahead_ms: None,
        },
        size_limit: 1 << 30,
        reserve_bytes: 1 << 20,
        commit_interval_ms: 1000,
    }
}

fn pcmu(seq: u16, n: u8) -> Vec<u8> {
    let mut out = vec![0u8; 172];
    RtpPacket::emit(&mut out, false, 0, seq, u32::from(seq) * 160, 7, &[n; 160]).unwrap();
    out
}

/// Steps simulated time to `until`, 20 ms packets from `seq`, honouring every deadline.
fn play(r: &mut Recorder, disk: &mut Disk, now: &mut u64, until: u64, seq: &mut u16, n: u8) {
    while *now < until {
        r.handle_datagram(*now, &pcmu(*seq, n));
        *seq += 1;
        let next = *now + 20;
        while let Some(t) = r.poll_timeout().filter(|&t| t <= next) {
            r.handle_timeout(t);
            disk.drain_recorder(r);
        }
        disk.drain_recorder(r);
        *now = next;
    }
}

#[test]
fn start_is_refused_with_a_reason() {
    let mut r = Recorder::new(cfg());
    let gone = StickState {
        present: false,
        ..ROOMY
    };
    assert_eq!(r.start(0, gone), Err(Refusal::NoStick));
    let ro = StickState {
        read_only: true,
        ..ROOMY
    };
    assert_eq!(r.start(0, ro), Err(Refusal::StickReadOnly));
    let full = StickState {
        free_bytes: (1 << 20) + MIN_START_ROOM - 1,
        ..ROOMY
    };
    assert_eq!(r.start(0, full), Err(Refusal::StickFull));
    assert_eq!(r.stop(StopReason::Requested), Err(Refusal::NotRecording));
    assert_eq!(r.pause(), Err(Refusal::NotRecording));
    assert_eq!(r.start(0, ROOMY), Ok(()));
    assert_eq!(r.start(0, ROOMY), Err(Refusal::AlreadyRecording));
    assert_eq!(r.resume(0), Err(Refusal::NotPaused));
    assert_eq!(r.pause(), Ok(()));
    assert_eq!(r.pause(), Err(Refusal::AlreadyPaused));
}

#[test]
fn header_commits_once_a_second() {
    let mut r = Recorder::new(cfg());
    let mut disk = Disk::default();
    let (mut now, mut seq) = (0, 0);
    r.start(now, ROOMY).unwrap();
    play(&mut r, &mut disk, &mut now, 10_000, &mut seq, 1);
    // One commit a second; the file opened with its first packet (one extra append).
    assert_eq!(disk.commits, 10);
    assert_eq!(disk.appends, 11);
    // At every commit the header agrees with the data (checked by Disk); 60 ms still wait.
    let on_disk = disk.header(0).data_size;
    assert!(
        ((10_000 - 80) * 8..=10_000 * 8).contains(&on_disk),
        "{on_disk}"
    );
    r.stop(StopReason::Requested).unwrap();
    disk.drain_recorder(&mut r);
    assert_eq!(disk.header(0).data_size, 80_000);
    assert_eq!(r.last_stop(), Some(StopReason::Requested));
    assert_eq!(r.stats().recorded_ms, 10_000);
}

#[test]
fn paused_time_is_not_recorded() {
    let mut r = Recorder::new(cfg());
    let mut disk = Disk::default();
    let (mut now, mut seq) = (0, 0);
    r.start(now, ROOMY).unwrap();
    play(&mut r, &mut disk, &mut now, 2_000, &mut seq, 1);
    r.pause().unwrap();
    play(&mut r, &mut disk, &mut now, 5_000, &mut seq, 2);
    r.resume(now).unwrap();
    play(&mut r, &mut disk, &mut now, 6_000, &mut seq, 3);
    r.stop(StopReason::Requested).unwrap();
    disk.drain_recorder(&mut r);
    let data = disk.data(0);
    assert_eq!(data.len(), 3 * 8000);
    assert!(data[..16_000].iter().all(|&b| b == 1));
    assert!(data[16_000..].iter().all(|&b| b == 3));
    assert_eq!(r.stats().paused_packets, 150);
}

#[test]
fn rollover_keeps_every_frame_once() {
    let mut c = cfg();
    c.size_limit = 20 * 1024; // 127 frames of 160 and 84 bytes that are not used
    let mut r = Recorder::new(c);
    let mut disk = Disk::default();
    let (mut now, mut seq) = (0, 0);
    r.start(now, ROOMY).unwrap();
    play(&mut r, &mut disk, &mut now, 5_000, &mut seq, 9);
    r.stop(StopReason::Requested).unwrap();
    disk.drain_recorder(&mut r);
    assert_eq!(disk.files.len(), 2);
    assert_eq!(disk.files[0].len(), 76 + 127 * 160);
    assert_eq!(disk.data(1).len(), 40_000 - 127 * 160);
    assert!(disk.data(0).iter().chain(disk.data(1)).all(|&b| b == 9));
}

#[test]
fn a_full_stick_stops_at_the_reserve_and_keeps_what_was_pending() {
    let mut r = Recorder::new(cfg());
    let mut disk = Disk::default();
    let (mut now, mut seq) = (0, 0);
    r.start(now, ROOMY).unwrap();
    play(&mut r, &mut disk, &mut now, 3_000, &mut seq, 1);
    assert!(!r.handle_free_space(2 << 20));
    assert!(r.handle_free_space((1 << 20) - 10));
    assert_eq!(r.state(), State::Idle);
    assert_eq!(r.last_stop(), Some(StopReason::StickFull));
    disk.drain_recorder(&mut r);
    assert_eq!(disk.header(0).data_size, 24_000);
    assert!(!disk.open);
}

#[test]
fn abort_keeps_the_failure_reason_and_writes_nothing_more() {
    let mut r = Recorder::new(cfg());
    let mut disk = Disk::default();
    let (mut now, mut seq) = (0, 0);
    r.start(now, ROOMY).unwrap();
    play(&mut r, &mut disk, &mut now, 1_500, &mut seq, 1);
    r.abort(StopReason::StickRemoved);
    disk.open = false; // the stick is gone with its open file
    assert_eq!(r.state(), State::Idle);
    assert!(r.poll_op().is_none());
    assert_eq!(r.last_stop(), Some(StopReason::StickRemoved));
    // A stop asked for, then the close fails: the failure is what the user sees.
    r.start(now, ROOMY).unwrap();
    play(&mut r, &mut disk, &mut now, 2_000, &mut seq, 1);
    r.stop(StopReason::StickFull).unwrap();
    r.abort(StopReason::WriteError);
    assert_eq!(r.last_stop(), Some(StopReason::StickFull));
}

#[test]
fn deadlines_follow_the_window_and_the_commit_timer() {
    let mut r = Recorder::new(cfg());
    assert_eq!(r.poll_timeout(), None);
    r.start(100, ROOMY).unwrap();
    assert_eq!(r.poll_timeout(), Some(1100));
    r.handle_datagram(150, &pcmu(0, 1));
    assert_eq!(r.poll_timeout(), Some(210));
    assert!(!r.handle_timeout(210));
    assert!(r.handle_timeout(5000)); // woken late: one commit, next one a full interval on
    assert_eq!(r.poll_timeout(), Some(6000));
    r.pause().unwrap();
    assert_eq!(r.poll_timeout(), None);
}
