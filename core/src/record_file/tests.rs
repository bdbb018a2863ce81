use super::*;

/// A PCMA header for 20 ms frames and 2 s of audio, byte by byte.
const PCMA_HEADER: [u8; HEADER_LEN] = [
    b'P', b'C', b'M', b'A', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    0xA0, 0x00, 0x00, 0x00, // rtpLen 160
    0xA0, 0x00, 0x00, 0x00, // increment 160
    0x80, 0x3E, 0x00, 0x00, // dataSize 16000
];

fn pcma(data_size: u32) -> Header {
    Header {
        codec: Codec::Pcma,
        rtp_len: 160,
        increment: 160,
        data_size,
    }
}

#[test]
fn header_encodes_byte_exact() {
    assert_eq!(pcma(16_000).encode(), PCMA_HEADER);
}

#[test]
fn header_decodes_byte_exact() {
    assert_eq!(Header::decode(&PCMA_HEADER), Ok(pcma(16_000)));
}

#[test]
fn g722_header_round_trips() {
    let h = Header {
        codec: Codec::G722,
        rtp_len: 320,
        increment: 320,
        data_size: 0xDEAD_BEEF,
    };
    let bytes = h.encode();
    assert_eq!(&bytes[..5], b"G722\0");
    assert_eq!(&bytes[72..], &[0xEF, 0xBE, 0xAD, 0xDE]);
    assert_eq!(Header::decode(&bytes), Ok(h));
}

#[test]
fn rejects_bad_headers() {
    assert_eq!(
        Header::decode(&PCMA_HEADER[..75]),
        Err(HeaderError::TooShort { len: 75 })
    );
    let mut b = PCMA_HEADER;
    b[..4].copy_from_slice(b"G729");
    assert_eq!(Header::decode(&b), Err(HeaderError::UnknownCodec));
    let mut b = PCMA_HEADER;
    b[10] = b'x'; // garbage after the NUL
    assert_eq!(Header::decode(&b), Err(HeaderError::UnknownCodec));
    let mut b = PCMA_HEADER;
    b[64..68].copy_from_slice(&0i32.to_le_bytes());
    assert_eq!(Header::decode(&b), Err(HeaderError::BadFrameLength(0)));
    let mut b = PCMA_HEADER;
    b[68..72].copy_from_slice(&(-160i32).to_le_bytes());
    assert_eq!(Header::decode(&b), Err(HeaderError::BadIncrement(-160)));
    let mut b = [0xFFu8; HEADER_LEN];
    b[..5].copy_from_slice(b"PCMU\0");
    assert!(Header::decode(&b).is_err());
}

#[test]
fn duration_and_seek() {
    let h = pcma(16_000);
    assert_eq!(h.frames(), 100);
    assert_eq!(h.duration_ms(), 2000);
    assert_eq!(h.data_offset_at_ms(0), 0);
    assert_eq!(h.data_offset_at_ms(19), 0);
    assert_eq!(h.data_offset_at_ms(20), 160);
    assert_eq!(h.data_offset_at_ms(1010), 50 * 160);
    assert_eq!(h.data_offset_at_ms(99_999), 16_000);
    // 30 ms frames of G.722: 240 bytes, 240 ticks.
    let g = Header {
        codec: Codec::G722,
        rtp_len: 240,
        increment: 240,
        data_size: 240 * 7,
    };
    assert_eq!(g.duration_ms(), 210);
    assert_eq!(g.data_offset_at_ms(u64::MAX), 240 * 7);
}

#[test]
fn recover_trusts_a_consistent_header() {
    let r = recover(pcma(1600), 76 + 1600);
    assert!(!r.stale);
    assert_eq!(r.header.data_size, 1600);
}

#[test]
fn recover_takes_whole_frames_past_a_lagging_header() {
    // Header says 1 frame, the disk holds 3 frames and a half.
    let r = recover(pcma(160), 76 + 3 * 160 + 80);
    assert!(r.stale);
    assert_eq!(r.header.data_size, 480);
    assert_eq!(r.header_data_size, 160);
    // Header of a freshly opened file (0) and a partial first frame: nothing whole to trust.
    let r = recover(pcma(0), 76 + 100);
    assert!(r.stale);
    assert_eq!(r.header.data_size, 0);
}

#[test]
fn recover_never_claims_past_the_end_of_the_file() {
    let r = recover(pcma(16_000), 76 + 1000);
    assert!(r.stale);
    assert_eq!(r.header.data_size, 960);
    let r = recover(pcma(160), 10);
    assert!(r.stale);
    assert_eq!(r.header.data_size, 0);
}

#[test]
fn names() {
    let t = LocalTime {
        year: 2026,
        month: 3,
        day: 7,
        hour: 9,
        minute: 5,
        second: 1,
    };
    assert_eq!(file_name(&t, 1).as_str(), "Record_20260307_090501.wav");
    assert_eq!(file_name(&t, 2).as_str(), "Record_20260307_090501_2.wav");
    assert_eq!(
        file_name(&t, u32::MAX).as_str(),
        "Record_20260307_090501_4294967295.wav"
    );
    assert!(is_record_name("Record_20260307_090501.wav"));
    assert!(is_record_name("Record_20260307_090501_12.wav"));
    assert!(!is_record_name("Record_20260307_090501_.wav"));
    assert!(!is_record_name("Record_2026030_090501.wav"));
    assert!(!is_record_name("notes.wav"));
    assert!(!is_record_name("Record_20260307-090501.wav"));
}
