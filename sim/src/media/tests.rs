use super::*;
use callrec_core::audio::g711::{alaw_to_linear, ulaw_to_linear};
use callrec_core::audio::g722::G722Decoder;

/// Sign changes from negative to non-negative.
fn upward_crossings(v: &[i16]) -> usize {
    v.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count()
}

fn sine(hz: f64, rate: u32, n: usize) -> Vec<i16> {
    let mut v = vec![0; n];
    Samples::new(&Audio::Sine(hz), rate).fill(0, &mut v);
    v
}

#[test]
fn resampling_interpolates_linearly() {
    assert_eq!(resample(&[0, 100], 8000, 16_000), [0, 50, 100, 100]);
    assert_eq!(resample(&[0, 30, 60, 90], 16_000, 8000), [0, 60]);
    let from_48k: Vec<i16> = (0..12).collect();
    assert_eq!(resample(&from_48k, 48_000, 8000), [0, 6]);
    assert_eq!(resample(&[5, 6, 7], 8000, 8000), [5, 6, 7]);
    assert_eq!(resample(&[], 44_100, 8000), Vec::<i16>::new());
    // 3 input samples at 3 Hz to 2 Hz: positions 0 and 1.5.
    assert_eq!(resample(&[0, 10, 20], 3, 2), [0, 15]);
    // Extremes do not overflow.
    assert_eq!(
        resample(&[i16::MIN, i16::MAX], 8000, 32_000),
        [i16::MIN, -16385, -1, 16383, 32767, 32767, 32767, 32767]
    );
}

#[test]
fn resampling_keeps_the_pitch() {
    // One second of 440 Hz at 44.1 kHz is 440 cycles at 8 kHz and at 16 kHz too.
    let src = sine(440.0, 44_100, 44_100);
    for to in [8000, 16_000] {
        let out = resample(&src, 44_100, to);
        assert_eq!(out.len(), to as usize);
        let n = upward_crossings(&out);
        assert!((439..=441).contains(&n), "{to}: {n}");
    }
}

#[test]
fn clips_loop_and_sines_keep_phase() {
    let clip = Clip {
        rate: 8000,
        samples: vec![1, 2, 3],
    };
    let s = Samples::new(&Audio::Clip(clip), 8000);
    let mut out = [0; 7];
    s.fill(2, &mut out);
    assert_eq!(out, [3, 1, 2, 3, 1, 2, 3]);
    // A sine filled in two parts is the same as in one.
    let whole = sine(1000.0, 8000, 320);
    let mut parts = [0; 320];
    let tone = Samples::new(&Audio::Sine(1000.0), 8000);
    tone.fill(0, &mut parts[..160]);
    tone.fill(160, &mut parts[160..]);
    assert_eq!(whole, parts);
    let peak = whole.iter().map(|s| s.unsigned_abs()).max().unwrap();
    assert_eq!(f64::from(peak), SINE_AMPLITUDE);
    // A tiny clip at a high rate still gives audio rather than nothing.
    let tiny = Clip {
        rate: 48_000,
        samples: vec![9],
    };
    assert_eq!(
        Samples::new(&Audio::Clip(tiny), 8000),
        Samples::Looped(vec![9])
    );
}

#[test]
fn encoders_round_trip() {
    let pcm = sine(1000.0, 8000, 160);
    for (codec, decode) in [
        (Codec::Pcma, alaw_to_linear as fn(u8) -> i16),
        (Codec::Pcmu, ulaw_to_linear),
    ] {
        let mut out = [0u8; 160];
        assert_eq!(Encoder::new(codec).encode(&pcm, &mut out), 160);
        for (a, b) in pcm.iter().zip(out) {
            let err = (i32::from(*a) - i32::from(decode(b))).abs();
            assert!(err <= 300, "{codec}: {a} vs {}", decode(b));
        }
    }
    // G.722: 320 samples at 16 kHz in, 160 bytes out; decoded, the tone comes back.
    let pcm = sine(1000.0, 16_000, 3200);
    let mut enc = Encoder::new(Codec::G722);
    let mut bytes = vec![0u8; 1600];
    for (i, chunk) in pcm.chunks(320).enumerate() {
        assert_eq!(enc.encode(chunk, &mut bytes[i * 160..]), 160);
    }
    let mut back = vec![0i16; 3200];
    assert_eq!(G722Decoder::new().decode(&bytes, &mut back), 3200);
    let n = upward_crossings(&back[320..]);
    assert!((178..=182).contains(&n), "{n}");
}
