use super::*;
use crate::test_disk::Disk;

/// Audio whose bytes count up, so any loss or repeat shows.
fn counting(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn one_second_is_one_append_and_one_commit() {
    let mut w = RecordWriter::new(1 << 30);
    let mut disk = Disk::default();
    w.set_codec(Codec::Pcma, 160);
    for i in 0..50 {
        w.audio(&counting(i * 160, 160));
        assert!(!w.wants_flush());
    }
    w.flush();
    disk.drain(&mut w);
    assert_eq!((disk.files.len(), disk.appends, disk.commits), (1, 1, 1));
    assert_eq!(disk.header(0).data_size, 8000);
    assert_eq!(disk.data(0), &counting(0, 8000)[..]);
    // Nothing new: a flush writes nothing.
    w.flush();
    disk.drain(&mut w);
    assert_eq!((disk.appends, disk.commits), (1, 1));
    assert!(w.is_idle());
}

#[test]
fn rollover_splits_on_frames_without_loss_or_repeat() {
    let limit = MIN_SIZE_LIMIT; // 16384: 101 frames of 160 per file
    let per_file = (limit as usize - HEADER_LEN) / 160 * 160;
    let mut w = RecordWriter::new(limit);
    let mut disk = Disk::default();
    w.set_codec(Codec::Pcmu, 160);
    let total = 3 * per_file + 1000;
    let stream = counting(0, total);
    for (k, chunk) in stream.chunks(160).enumerate() {
        w.audio(chunk);
        if k % 37 == 0 || w.wants_flush() {
            w.flush();
            disk.drain(&mut w);
        }
    }
    w.close();
    disk.drain(&mut w);
    assert_eq!(disk.files.len(), 4);
    let mut joined = Vec::new();
    for i in 0..4 {
        assert!(disk.files[i].len() as u64 <= limit);
        joined.extend_from_slice(disk.data(i));
    }
    assert_eq!(&joined[..total], &stream[..]);
    // The last file is padded to whole frames with μ-law silence.
    assert_eq!(disk.header(3).data_size as usize, 1120);
    assert!(joined[total..].iter().all(|&b| b == 0xFF));
    assert_eq!(w.files_closed(), 4);
}

#[test]
fn silence_fills_in_the_codec_byte_and_long_gaps_are_batched() {
    let mut w = RecordWriter::new(1 << 30);
    let mut disk = Disk::default();
    w.set_codec(Codec::Pcma, 160);
    w.audio(&[1; 160]);
    w.silence(60 * 8000); // a minute of gap: written in batches, never all in memory
    w.audio(&[2; 160]);
    w.close();
    disk.drain(&mut w);
    let d = disk.data(0);
    assert_eq!(d.len(), 160 + 480_000 + 160);
    assert!(d[160..480_160].iter().all(|&b| b == 0xD5));
    assert_eq!(d[480_160], 2);
    assert!(disk.appends >= 480_320 / BATCH);
}

#[test]
fn codec_change_starts_a_new_file() {
    let mut w = RecordWriter::new(1 << 30);
    let mut disk = Disk::default();
    w.set_codec(Codec::Pcma, 160);
    w.audio(&[1; 100]); // a short last frame, padded at the change
    w.set_codec(Codec::G722, 320);
    w.audio(&[2; 320]);
    w.close();
    disk.drain(&mut w);
    assert_eq!(disk.files.len(), 2);
    assert_eq!(disk.header(0).codec, Codec::Pcma);
    assert_eq!(disk.header(0).data_size, 160);
    assert_eq!(&disk.data(0)[100..], &[0xD5; 60]);
    assert_eq!(
        disk.header(1),
        Header {
            codec: Codec::G722,
            rtp_len: 320,
            increment: 320,
            data_size: 320
        }
    );
}

#[test]
fn silence_before_the_codec_is_known_is_kept() {
    let mut w = RecordWriter::new(1 << 30);
    let mut disk = Disk::default();
    w.silence(320); // comfort noise before the first audio packet
    w.set_codec(Codec::Pcmu, 160);
    w.audio(&[7; 160]);
    w.close();
    disk.drain(&mut w);
    assert_eq!(
        disk.data(0),
        &[[0xFFu8; 320].as_slice(), &[7; 160]].concat()[..]
    );
}

#[test]
fn nothing_recorded_opens_no_file() {
    let mut w = RecordWriter::new(1 << 30);
    let mut disk = Disk::default();
    w.close();
    disk.drain(&mut w);
    assert!(disk.files.is_empty());
}

#[test]
fn a_writer_that_is_not_drained_keeps_time_with_silence() {
    let mut w = RecordWriter::new(1 << 30);
    w.set_codec(Codec::Pcma, 160);
    for _ in 0..(RING / 160 + 10) {
        w.audio(&[3; 160]);
    }
    assert!(w.wants_flush());
    assert_eq!(w.overflow_ticks(), 10 * 160);
    let mut disk = Disk::default();
    w.close();
    disk.drain(&mut w);
    assert_eq!(disk.data(0).len(), (RING / 160 + 10) * 160);
}

#[test]
fn size_limit_is_clamped_to_fat32() {
    assert_eq!(clamp_limit(u64::MAX), FAT32_MAX_FILE);
    assert_eq!(clamp_limit(0), MIN_SIZE_LIMIT);
    let c = capacity(FAT32_MAX_FILE, 160);
    assert_eq!(c % 160, 0);
    assert!(u64::from(c) + HEADER_LEN as u64 <= FAT32_MAX_FILE);
}
