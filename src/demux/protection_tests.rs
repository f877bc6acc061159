//! Common Encryption read back from what the muxer's writers write (`sinf`, `senc`,
//! `saiz`, `saio`, `pssh`), and damaged protection boxes as errors, never panics.

use super::protection::{TrackProtection, original_entry, uuid_string};
use super::tests::{audio_track, aus, demux, find, patch, payload, samples, video_track, vs};
use super::*;
use crate::boxes::cenc::{SampleAux, TrackEncryption, sinf};
use crate::boxes::fragment::write_protected_chunk_header;
use crate::boxes::{MovieDesc, SampleDesc, TrackDesc, TrafDesc, write_init};
use crate::encrypt::Subsample;

const KID: [u8; 16] = [0x42; 16];
const CLEARKEY: [u8; 16] = [
    0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b,
];

fn cenc() -> TrackEncryption {
    TrackEncryption {
        scheme: *b"cenc",
        default_kid: KID,
        per_sample_iv_size: 8,
        constant_iv: None,
        crypt_byte_block: 0,
        skip_byte_block: 0,
    }
}

fn cbcs(pattern: (u8, u8)) -> TrackEncryption {
    TrackEncryption {
        scheme: *b"cbcs",
        default_kid: KID,
        per_sample_iv_size: 0,
        constant_iv: Some([7; 16]),
        crypt_byte_block: pattern.0,
        skip_byte_block: pattern.1,
    }
}

/// The track with its entry turned into `encv`/`enca` by the muxer's `sinf` writer.
fn protect(mut t: TrackDesc, tenc: &TrackEncryption) -> TrackDesc {
    t.entry.children.push(sinf(t.entry.fourcc, tenc));
    t.entry.fourcc = if t.is_video() { *b"encv" } else { *b"enca" };
    t
}

/// A version-1 ClearKey `pssh` naming `KID`.
fn pssh_box() -> Vec<u8> {
    let mut p = vec![0, 0, 0, 52, b'p', b's', b's', b'h', 1, 0, 0, 0];
    p.extend(CLEARKEY);
    p.extend([0, 0, 0, 1]);
    p.extend(KID);
    p.extend([0, 0, 0, 0]);
    p
}

fn protected_init(video: &TrackEncryption, audio: &TrackEncryption) -> Vec<u8> {
    let mut movie = MovieDesc::fragmented(1000);
    movie.pssh = vec![pssh_box()];
    write_init(
        &movie,
        &[protect(video_track(), video), protect(audio_track(), audio)],
    )
}

fn iv(n: u8, len: usize) -> Vec<u8> {
    (0..len as u8).map(|b| b ^ n.wrapping_mul(17)).collect()
}

fn sub(clear: u16, protected: u32) -> Subsample {
    Subsample { clear, protected }
}

/// Video entries with subsample maps, audio whole-sample entries.
fn aux(video: &[SampleDesc], audio: &[SampleDesc], iv_len: usize) -> [Vec<SampleAux>; 2] {
    [
        video
            .iter()
            .enumerate()
            .map(|(i, s)| SampleAux {
                iv: iv(i as u8, iv_len),
                subsamples: vec![sub(5, s.size - 8), sub(3, 0)],
            })
            .collect(),
        audio
            .iter()
            .enumerate()
            .map(|(i, _)| SampleAux {
                iv: iv(100 + i as u8, iv_len),
                subsamples: Vec::new(),
            })
            .collect(),
    ]
}

/// One protected chunk of both tracks; returns its bytes and what its `senc`s say.
fn chunk(seq: u32, base: (u64, u64), iv_len: usize) -> (Vec<u8>, [Vec<SampleAux>; 2]) {
    let video = [vs(40, true, 0), vs(30, false, 0), vs(20, false, 0)];
    let audio = [aus(9), aus(10)];
    let aux = aux(&video, &audio, iv_len);
    let trafs = [
        TrafDesc {
            track_id: 1,
            base_decode_time: base.0,
            samples: &video,
        },
        TrafDesc {
            track_id: 2,
            base_decode_time: base.1,
            samples: &audio,
        },
    ];
    let mut out =
        write_protected_chunk_header(seq, &trafs, &[Some(&aux[0][..]), Some(&aux[1][..])]).unwrap();
    for t in &trafs {
        for (i, s) in t.samples.iter().enumerate() {
            out.extend(payload(t.track_id, i, s.size));
        }
    }
    (out, aux)
}

fn stream(iv_len: usize) -> (Vec<u8>, Vec<[Vec<SampleAux>; 2]>) {
    let mut s = protected_init(&cenc(), &cenc());
    let (c1, a1) = chunk(1, (0, 0), iv_len);
    let (c2, a2) = chunk(2, (9000, 2048), iv_len);
    s.extend(c1);
    s.extend(c2);
    (s, vec![a1, a2])
}

/// Per track, the encryption information of its samples in order.
fn crypto_by_track(events: &[Event<Vec<u8>>]) -> [Vec<SampleAux>; 2] {
    let mut out: [Vec<SampleAux>; 2] = Default::default();
    for s in samples(events) {
        out[s.info.track_id as usize - 1].push(s.crypto.clone().expect("encrypted sample"));
    }
    out
}

fn expected(written: &[[Vec<SampleAux>; 2]]) -> [Vec<SampleAux>; 2] {
    let mut out: [Vec<SampleAux>; 2] = Default::default();
    for chunk in written {
        for t in 0..2 {
            out[t].extend(chunk[t].iter().cloned());
        }
    }
    out
}

#[test]
fn the_sinf_the_muxer_writes_reads_back() {
    for (tenc, constant) in [
        (cenc(), vec![]),
        (cbcs((1, 9)), vec![7; 16]),
        (cbcs((0, 0)), vec![7; 16]),
    ] {
        let init = write_init(
            &MovieDesc::fragmented(1000),
            &[protect(video_track(), &tenc)],
        );
        let events = demux(&init, 7).unwrap();
        let Event::Movie(movie) = &events[0] else {
            panic!("{:?}", events[0]);
        };
        let track = &movie.tracks[0];
        let p = track.protection.as_ref().expect("protected");
        assert_eq!(
            p,
            &TrackProtection {
                original_format: *b"avc1",
                scheme: tenc.scheme,
                protected: true,
                default_kid: KID,
                per_sample_iv_size: tenc.per_sample_iv_size,
                constant_iv: constant,
                crypt_byte_block: tenc.crypt_byte_block,
                skip_byte_block: tenc.skip_byte_block,
            }
        );
        assert_eq!(
            &track.desc.entry.fourcc, b"encv",
            "the entry keeps its sinf"
        );
        assert_eq!(original_entry(&track.desc.entry, p), video_track().entry);
    }
}

#[test]
fn pssh_boxes_of_the_moov_and_the_moof() {
    let (mut s, _) = stream(8);
    // A pssh box appended to the second moof: the moof grows, so the data offsets of
    // its truns (counted from the moof) move by as much.
    let moofs: Vec<usize> = s
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"moof")
        .map(|(i, _)| i - 4)
        .collect();
    let at = moofs[1];
    let moof_len = u32::from_be_bytes(s[at..at + 4].try_into().unwrap()) as usize;
    let mut moof = s[at..at + moof_len].to_vec();
    let mut extra = pssh_box();
    extra[12] = 0xab; // another system
    let grow = extra.len() as u32;
    patch(&mut moof, 0, moof_len as u32 + grow);
    let mut pos = 0;
    while let Some(p) = moof[pos..].windows(4).position(|w| w == b"trun") {
        let trun = pos + p - 4;
        let off = u32::from_be_bytes(moof[trun + 16..trun + 20].try_into().unwrap());
        patch(&mut moof, trun + 16, off + grow);
        pos = trun + 8;
    }
    moof.extend(&extra);
    s.splice(at..at + moof_len, moof);
    let events = demux(&s, 64).unwrap();
    let Event::Movie(movie) = &events[0] else {
        panic!("a movie first");
    };
    assert_eq!(movie.pssh.len(), 1);
    assert_eq!(movie.pssh[0].data, pssh_box());
    assert_eq!(
        movie.pssh[0].system_id_string(),
        "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
    );
    let in_moof: Vec<(&Pssh, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Pssh { pssh, moof } => Some((pssh, *moof)),
            _ => None,
        })
        .collect();
    assert_eq!(in_moof.len(), 1);
    assert_eq!(in_moof[0].0.data, extra);
    assert_eq!(
        in_moof[0].1,
        Some(1),
        "the second moof's samples say moof 1"
    );
    // Before any sample of the moof that holds it.
    let pssh_at = events
        .iter()
        .position(|e| matches!(e, Event::Pssh { .. }))
        .unwrap();
    let first_of_moof_1 = events
        .iter()
        .position(|e| matches!(e, Event::Sample(s) if s.moof == 1))
        .unwrap();
    assert!(pssh_at < first_of_moof_1);
    assert_eq!(samples(&events).len(), 10, "samples unchanged");
}

#[test]
fn senc_entries_read_back_with_8_and_16_byte_ivs() {
    for iv_len in [8, 16] {
        let (mut s, written) = stream(iv_len);
        if iv_len == 16 {
            // tenc says 16-byte IVs: patch both entries' per-sample IV size.
            let mut pos = 0;
            while let Some(p) = s[pos..].windows(4).position(|w| w == b"tenc") {
                let tenc = pos + p - 4;
                s[tenc + 15] = 16;
                pos = tenc + 8;
            }
        }
        for step in [1, 13, 1 << 20] {
            let events = demux(&s, step).unwrap();
            assert_eq!(crypto_by_track(&events), expected(&written), "step {step}");
        }
    }
}

#[test]
fn saiz_and_saio_serve_when_there_is_no_senc() {
    let (s, written) = stream(8);
    // The senc boxes renamed: their bytes stay where saio points.
    let mut renamed = s.clone();
    let mut pos = 0;
    while let Some(p) = renamed[pos..].windows(4).position(|w| w == b"senc") {
        let at = pos + p;
        renamed[at..at + 4].copy_from_slice(b"skip");
        pos = at + 4;
    }
    let events = demux(&renamed, 5).unwrap();
    assert_eq!(crypto_by_track(&events), expected(&written));
}

#[test]
fn constant_ivs_need_no_auxiliary_information() {
    let video_tenc = cbcs((1, 9));
    let audio_tenc = cbcs((0, 0));
    let mut s = protected_init(&video_tenc, &audio_tenc);
    let (c, mut written) = {
        let video = [vs(40, true, 0), vs(30, false, 0)];
        let audio = [aus(9), aus(10)];
        let mut aux = aux(&video, &audio, 0);
        // cbcs audio: no IV, whole samples: senc holds only the count.
        for a in &mut aux[1] {
            a.subsamples.clear();
        }
        let trafs = [
            TrafDesc {
                track_id: 1,
                base_decode_time: 0,
                samples: &video,
            },
            TrafDesc {
                track_id: 2,
                base_decode_time: 0,
                samples: &audio,
            },
        ];
        let mut out =
            write_protected_chunk_header(1, &trafs, &[Some(&aux[0][..]), Some(&aux[1][..])])
                .unwrap();
        for t in &trafs {
            for (i, s) in t.samples.iter().enumerate() {
                out.extend(payload(t.track_id, i, s.size));
            }
        }
        (out, aux)
    };
    s.extend(&c);
    let events = demux(&s, 9).unwrap();
    assert_eq!(crypto_by_track(&events), written);
    // Without any senc at all the audio samples still come, with empty entries.
    let mut no_senc = s.clone();
    let audio_senc = no_senc.windows(4).rposition(|w| w == b"senc").unwrap();
    no_senc[audio_senc..audio_senc + 4].copy_from_slice(b"skip");
    let events = demux(&no_senc, 9).unwrap();
    written[1] = vec![SampleAux::default(); 2];
    assert_eq!(crypto_by_track(&events), written);
}

#[test]
fn an_unknown_scheme_is_an_error_naming_schm() {
    let init = protected_init(&cenc(), &cenc());
    let mut bad = init.clone();
    let schm = find(&bad, b"schm");
    bad[schm + 12..schm + 16].copy_from_slice(b"abcd");
    let err = demux(&bad, 100).unwrap_err();
    let DemuxError::Read(r) = &err else {
        panic!("{err}");
    };
    assert_eq!((r.kind.as_str(), r.offset), ("schm", schm as u64), "{err}");
    assert!(err.to_string().contains("'abcd'"), "{err}");
    // The other Common Encryption schemes are read.
    for scheme in [b"cens", b"cbc1"] {
        let mut other = init.clone();
        other[schm + 12..schm + 16].copy_from_slice(scheme);
        let events = demux(&other, 100).unwrap();
        let Event::Movie(m) = &events[0] else {
            panic!("a movie");
        };
        assert_eq!(&m.tracks[0].protection.as_ref().unwrap().scheme, scheme);
    }
}

#[test]
fn senc_counts_must_match_the_samples() {
    let (s, _) = stream(8);
    let senc = find(&s, b"senc");
    for count in [2u32, 4, u32::MAX] {
        let mut bad = s.clone();
        patch(&mut bad, senc + 12, count);
        let err = demux(&bad, 100).unwrap_err();
        let DemuxError::Read(r) = &err else {
            panic!("{err}");
        };
        assert_eq!((r.kind.as_str(), r.offset), ("senc", senc as u64), "{err}");
        assert!(err.to_string().contains("entries"), "{err}");
    }
    // saiz is checked the same way when it is the source.
    let mut renamed = s.clone();
    renamed[senc + 4..senc + 8].copy_from_slice(b"skip");
    let saiz = find(&renamed, b"saiz");
    patch(&mut renamed, saiz + 13, 7);
    let err = demux(&renamed, 100).unwrap_err();
    assert!(err.to_string().contains("'saiz'"), "{err}");
}

#[test]
fn saio_outside_the_moof_is_an_error() {
    let (s, _) = stream(8);
    let senc = find(&s, b"senc");
    let mut bad = s.clone();
    bad[senc + 4..senc + 8].copy_from_slice(b"skip");
    let saio = find(&bad, b"saio");
    for offset in [0x7fff_0000u32, 4000, u32::MAX] {
        patch(&mut bad, saio + 16, offset);
        let err = demux(&bad, 100).unwrap_err();
        let DemuxError::Read(r) = &err else {
            panic!("{err}");
        };
        assert_eq!((r.kind.as_str(), r.offset), ("saio", saio as u64), "{err}");
        assert!(err.to_string().contains("outside the 'moof'"), "{err}");
    }
}

#[test]
fn per_sample_ivs_without_auxiliary_information_are_an_error() {
    let (s, _) = stream(8);
    let mut bad = s.clone();
    for kind in [b"senc", b"saiz"] {
        let at = find(&bad, kind);
        bad[at + 4..at + 8].copy_from_slice(b"skip");
    }
    let err = demux(&bad, 100).unwrap_err();
    assert!(err.to_string().contains("neither 'senc'"), "{err}");
    assert!(err.to_string().contains("'traf'"), "{err}");
}

#[test]
fn a_broken_pssh_in_the_moov_is_an_error() {
    let mut init = protected_init(&cenc(), &cenc());
    let pssh = find(&init, b"pssh");
    // The data size claims more than the box holds.
    patch(&mut init, pssh + 48, 9);
    let err = demux(&init, 100).unwrap_err();
    assert!(err.to_string().contains("'pssh'"), "{err}");
}

#[test]
fn uuids_are_printed_as_qtdemux_prints_them() {
    assert_eq!(
        uuid_string(&CLEARKEY),
        "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
    );
    assert_eq!(uuid_string(&[0xff; 16]).len(), 36);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Damaged protection boxes give errors or events, never a panic, and no
        /// sample carries more subsample bytes than the stream holds.
        #[test]
        fn damaged_protected_streams_never_panic(
            damages in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            step in 1usize..300,
            near in prop_oneof![Just(&b"senc"[..]), Just(&b"saiz"[..]), Just(&b"saio"[..]), Just(&b"tenc"[..]), Just(&b"pssh"[..]), Just(&b"schm"[..])],
        ) {
            let (mut data, _) = stream(8);
            // Damage within 64 bytes after a protection box's type.
            let at = data.windows(4).position(|w| w == near).unwrap_or(0);
            for (i, b) in damages {
                let n = data.len();
                data[(at + i % 64) % n] = b;
            }
            if let Ok(events) = demux(&data, step) {
                for s in samples(&events) {
                    if let Some(c) = &s.crypto {
                        prop_assert!(c.subsamples.len() * 6 + c.iv.len() <= data.len());
                    }
                }
            }
        }
    }
}
