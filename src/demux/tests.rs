use super::*;
use crate::boxes::{
    BoxWriter, ChildBox, MediaKind, MovieDesc, SampleDesc, SampleEntry, TrackDesc, TrafDesc,
    write_chunk_header, write_init,
};

pub(super) fn video_track() -> TrackDesc {
    TrackDesc {
        language: None,
        track_id: 1,
        timescale: 90_000,
        entry: SampleEntry {
            fourcc: *b"avc1",
            kind: MediaKind::Video {
                width: 320,
                height: 240,
                pixel_aspect: Some((4, 3)),
                colour: None,
            },
            children: vec![ChildBox {
                fourcc: *b"avcC",
                full: None,
                body: vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0xe0],
            }],
        },
    }
}

pub(super) fn audio_track() -> TrackDesc {
    TrackDesc {
        // A language read back from mdhd and elng.
        language: Some(crate::boxes::Language {
            iso639_2t: *b"por",
            bcp47: "pt-BR".into(),
        }),
        track_id: 2,
        timescale: 48_000,
        entry: SampleEntry {
            fourcc: *b"mp4a",
            kind: MediaKind::Audio {
                channels: 2,
                sample_rate: 48_000,
            },
            children: vec![ChildBox {
                fourcc: *b"esds",
                full: Some((0, 0)),
                body: crate::codec::aac::esds_body(&[0x11, 0x90], 0, 0),
            }],
        },
    }
}

pub(super) fn init() -> Vec<u8> {
    write_init(
        &MovieDesc::fragmented(1000),
        &[video_track(), audio_track()],
    )
}

/// Payload bytes of a sample, distinct per track and index.
pub(super) fn payload(track: u32, i: usize, size: u32) -> Vec<u8> {
    (0..size)
        .map(|b| (track as u8) ^ (i as u8).wrapping_mul(31) ^ (b as u8))
        .collect()
}

/// One chunk with `video` then `audio` samples; returns the bytes.
fn chunk(
    seq: u32,
    video: (u64, &[SampleDesc]),
    audio: (u64, &[SampleDesc]),
    first: usize,
) -> Vec<u8> {
    let trafs = [
        TrafDesc {
            track_id: 1,
            base_decode_time: video.0,
            samples: video.1,
        },
        TrafDesc {
            track_id: 2,
            base_decode_time: audio.0,
            samples: audio.1,
        },
    ];
    let mut out = write_chunk_header(seq, &trafs).unwrap();
    for t in &trafs {
        for (i, s) in t.samples.iter().enumerate() {
            out.extend(payload(t.track_id, first + i, s.size));
        }
    }
    out
}

pub(super) fn vs(size: u32, sync: bool, cto: i32) -> SampleDesc {
    SampleDesc {
        duration: 3000,
        size,
        sync,
        composition_offset: cto,
    }
}

pub(super) fn aus(size: u32) -> SampleDesc {
    SampleDesc {
        duration: 1024,
        size,
        sync: true,
        composition_offset: 0,
    }
}

fn stream() -> Vec<u8> {
    let mut s = init();
    s.extend(chunk(
        1,
        (
            0,
            &[vs(50, true, 6000), vs(20, false, -3000), vs(30, false, 0)],
        ),
        (0, &[aus(7), aus(8)]),
        0,
    ));
    // Boxes the demuxer skips between fragments: free, styp, sidx, and an unknown one.
    for kind in [b"free", b"styp", b"sidx", b"zzzz"] {
        s.extend([0, 0, 0, 12]);
        s.extend(kind);
        s.extend([9, 9, 9, 9]);
    }
    s.extend(chunk(
        2,
        (9000, &[vs(40, true, 3000)]),
        (2048, &[aus(9)]),
        3,
    ));
    // An index at the end, with a 64-bit size.
    s.extend([
        0, 0, 0, 1, b'm', b'f', b'r', b'a', 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4,
    ]);
    s
}

/// Feeds `data` in pieces of `step` bytes, collecting every event, then ends the stream.
pub(super) fn demux(data: &[u8], step: usize) -> Result<Vec<Event<Vec<u8>>>, DemuxError> {
    let mut d = Demuxer::new(VecSource::default());
    let mut out = Vec::new();
    for piece in data.chunks(step) {
        d.source_mut().push(piece);
        while let Some(ev) = d.next_event()? {
            out.push(ev);
        }
    }
    let result = d.finish();
    d.end();
    while let Some(ev) = d.next_event()? {
        out.push(ev);
    }
    result?;
    Ok(out)
}

pub(super) fn samples(events: &[Event<Vec<u8>>]) -> Vec<&Sample<Vec<u8>>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn reads_what_the_writer_wrote() {
    let events = demux(&stream(), 1 << 20).unwrap();
    let Event::Movie(movie) = &events[0] else {
        panic!("first event {:?}", events[0]);
    };
    assert_eq!(movie.timescale, 1000);
    assert_eq!(movie.tracks[0].desc, video_track());
    assert_eq!(movie.tracks[1].desc, audio_track());
    let s = samples(&events);
    let got: Vec<(u32, u64, i64, u32, bool)> = s
        .iter()
        .map(|s| {
            (
                s.info.track_id,
                s.info.dts,
                s.info.composition_offset,
                s.info.duration,
                s.info.sync,
            )
        })
        .collect();
    assert_eq!(
        got,
        // Decode-time order across tracks and moofs: video at 90 kHz, audio at 48 kHz.
        [
            (1, 0, 6000, 3000, true),
            (2, 0, 0, 1024, true),
            (2, 1024, 0, 1024, true),
            (1, 3000, -3000, 3000, false),
            (2, 2048, 0, 1024, true),
            (1, 6000, 0, 3000, false),
            (1, 9000, 3000, 3000, true),
        ]
    );
    let video_payloads: Vec<&Vec<u8>> = s
        .iter()
        .filter(|s| s.info.track_id == 1)
        .map(|s| &s.payload)
        .collect();
    assert_eq!(video_payloads[1], &payload(1, 1, 20));
    assert_eq!(video_payloads[3], &payload(1, 3, 40));
    assert_eq!(s[2].payload, payload(2, 1, 8));
    assert_eq!(s[4].payload, payload(2, 3, 9));
    let ends: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::FragmentEnd { sequence, .. } => Some(*sequence),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [1, 2]);
}

#[test]
fn buffer_boundaries_do_not_matter() {
    let data = stream();
    let whole = demux(&data, data.len()).unwrap();
    for step in [1, 2, 3, 7, 8, 16, 100] {
        assert_eq!(demux(&data, step).unwrap(), whole, "step {step}");
    }
}

#[test]
fn video_before_the_first_keyframe_is_dropped() {
    let mut s = init();
    s.extend(chunk(
        1,
        (0, &[vs(10, false, 0), vs(11, false, 0), vs(12, true, 0)]),
        (0, &[aus(5)]),
        0,
    ));
    let events = demux(&s, 5).unwrap();
    let dropped = events
        .iter()
        .filter(|e| matches!(e, Event::DroppedBeforeKeyframe(_)))
        .count();
    assert_eq!(dropped, 2);
    let s = samples(&events);
    assert_eq!(s.len(), 2);
    let video: Vec<_> = s.iter().filter(|s| s.info.track_id == 1).collect();
    assert!(video.len() == 1 && video[0].info.sync && video[0].info.dts == 6000);
}

/// Rewrites a big-endian u32 found at `at`.
pub(super) fn patch(data: &mut [u8], at: usize, v: u32) {
    data[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

pub(super) fn find(data: &[u8], kind: &[u8; 4]) -> usize {
    data.windows(4)
        .position(|w| w == kind)
        .expect("box present")
        - 4
}

#[test]
fn moof_before_moov_is_an_error() {
    let c = chunk(1, (0, &[vs(5, true, 0)]), (0, &[aus(5)]), 0);
    let err = demux(&c, 1000).unwrap_err();
    assert_eq!(err, DemuxError::NoMovie { offset: 0 });
}

#[test]
fn a_moof_without_its_mdat_is_an_error() {
    let mut s = init();
    let moof_at = s.len() as u64;
    let c = chunk(1, (0, &[vs(5, true, 0)]), (0, &[aus(5)]), 0);
    let moof_len = find(&c, b"mdat");
    s.extend(&c[..moof_len]);
    let err = demux(&s, 1000).unwrap_err();
    assert!(
        matches!(err, DemuxError::MdatMissing { moof, .. } if moof == moof_at),
        "{err}"
    );
    assert!(err.to_string().contains("stream ended"), "{err}");
    s.extend(&c);
    let err = demux(&s, 1000).unwrap_err();
    assert!(err.to_string().contains("another 'moof' follows"), "{err}");
}

#[test]
fn data_offsets_and_sizes_are_checked_against_the_mdat() {
    let base = init();
    let c = chunk(1, (0, &[vs(5, true, 0)]), (0, &[aus(5)]), 0);
    // The first trun's data_offset: after 'trun', version/flags and sample_count.
    let trun = find(&c, b"trun");
    let mut bad_offset = c.clone();
    patch(&mut bad_offset, trun + 16, 8);
    let mut s = base.clone();
    s.extend(&bad_offset);
    let err = demux(&s, 64).unwrap_err();
    assert!(
        matches!(err, DemuxError::OutsideMdat { track_id: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("outside the 'mdat'"), "{err}");

    // The mdat three bytes short: the audio sample runs past its end.
    let mut big = c.clone();
    let mdat = find(&big, b"mdat");
    let size = u32::from_be_bytes(big[mdat..mdat + 4].try_into().unwrap());
    patch(&mut big, mdat, size - 3);
    let mut s = base.clone();
    s.extend(&big[..big.len() - 3]);
    let err = demux(&s, 64).unwrap_err();
    assert!(
        matches!(err, DemuxError::OutsideMdat { track_id: 2, .. }),
        "{err}"
    );
}

#[test]
fn missing_tfdt_and_trun_are_errors() {
    let c = chunk(1, (0, &[vs(5, true, 0)]), (0, &[aus(5)]), 0);
    for (kind, words) in [(b"tfdt", "no 'tfdt'"), (b"trun", "no 'trun'")] {
        let mut bad = c.clone();
        let at = find(&bad, kind);
        bad[at + 4..at + 8].copy_from_slice(b"skip");
        let mut s = init();
        let moof_at = s.len() as u64;
        s.extend(&bad);
        let err = demux(&s, 1000).unwrap_err();
        assert!(err.to_string().contains(words), "{err}");
        assert!(err.to_string().contains("'traf'"), "{err}");
        if let DemuxError::Read(r) = &err {
            assert!(r.offset > moof_at, "{err}");
        } else {
            panic!("{err}");
        }
    }
}

#[test]
fn hostile_sizes_neither_panic_nor_allocate() {
    let mut s = init();
    let c = chunk(1, (0, &[vs(5, true, 0)]), (0, &[aus(5)]), 0);
    let trun = find(&c, b"trun");
    let mut bad = c.clone();
    patch(&mut bad, trun + 12, u32::MAX); // sample_count
    s.extend(&bad);
    let err = demux(&s, 1000).unwrap_err();
    assert!(err.to_string().contains("sample_count"), "{err}");

    // A sample size that makes the fragment's payload 4 GiB: refused, not awaited.
    let mut far = init();
    let mut c = chunk(1, (0, &[vs(5, true, 0)]), (0, &[]), 0);
    let tfhd = find(&c, b"tfhd");
    // The video tfhd carries default size 5 (one sample): make it 4 GiB - 1.
    patch(&mut c, tfhd + 20, u32::MAX);
    far.extend(&c);
    let err = demux(&far, 1000).unwrap_err();
    assert!(matches!(err, DemuxError::PayloadTooLarge { .. }), "{err}");

    let mut huge = init();
    huge.extend([0xff, 0xff, 0xff, 0xff, b'm', b'o', b'o', b'f']);
    let err = demux(&huge, 1000).unwrap_err();
    assert!(matches!(err, DemuxError::BoxTooLarge { .. }), "{err}");

    let mut cut = init();
    cut.truncate(cut.len() - 5);
    let err = demux(&cut, 1000).unwrap_err();
    assert!(matches!(err, DemuxError::Truncated { .. }), "{err}");
}

/// A hand-built moof: no default-base-is-moof, one traf with two truns, the second
/// without a data offset, and a 64-bit mdat.
#[test]
fn implicit_bases_and_large_sizes() {
    let mut s = write_init(&MovieDesc::fragmented(1000), &[video_track()]);
    let moof_at = s.len();
    let mut w = BoxWriter::default();
    let moof = w.begin(*b"moof");
    let mfhd = w.begin_full(*b"mfhd", 0, 0);
    w.u32(7);
    w.end(mfhd);
    let traf = w.begin(*b"traf");
    let tfhd = w.begin_full(*b"tfhd", 0, 0x08 | 0x20); // default duration and flags
    w.u32(1);
    w.u32(1500);
    w.u32(0x0101_0000);
    w.end(tfhd);
    let tfdt = w.begin_full(*b"tfdt", 0, 0);
    w.u32(100);
    w.end(tfdt);
    let trun = w.begin_full(*b"trun", 0, 0x001 | 0x004 | 0x200);
    w.u32(2);
    let offset_slot = w.reserve_u32();
    w.u32(0x0200_0000); // first sample: sync
    w.u32(3);
    w.u32(4);
    w.end(trun);
    let trun2 = w.begin_full(*b"trun", 0, 0x200);
    w.u32(1);
    w.u32(5);
    w.end(trun2);
    w.end(traf);
    w.end(moof);
    let moof_len = w.len();
    // 64-bit mdat header: 16 bytes.
    w.patch_u32(offset_slot, (moof_len + 16) as u32);
    let mut bytes = w.into_bytes();
    let mdat = w_large_mdat(12);
    bytes.extend(mdat);
    bytes.extend(b"aaabbbbccccc");
    s.extend(bytes);
    let events = demux(&s, 3).unwrap();
    let got: Vec<(u64, u64, bool, Vec<u8>)> = samples(&events)
        .iter()
        .map(|s| (s.info.offset, s.info.dts, s.info.sync, s.payload.clone()))
        .collect();
    let data = (moof_at + moof_len + 16) as u64;
    assert_eq!(
        got,
        [
            (data, 100, true, b"aaa".to_vec()),
            (data + 3, 1600, false, b"bbbb".to_vec()),
            (data + 7, 3100, false, b"ccccc".to_vec()),
        ]
    );
}

fn w_large_mdat(payload: u64) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 1];
    h.extend(b"mdat");
    h.extend((payload + 16).to_be_bytes());
    h
}

#[test]
fn a_second_moov_updates_the_movie() {
    let mut s = stream();
    let mut changed = video_track();
    changed.entry.children[0].body = vec![1, 0x64, 0, 0x28, 0xff, 0xe0, 0xe0];
    s.extend(write_init(
        &MovieDesc::fragmented(1000),
        &[changed.clone(), audio_track()],
    ));
    s.extend(chunk(3, (12_000, &[vs(5, true, 0)]), (3072, &[aus(5)]), 4));
    let events = demux(&s, 4096).unwrap();
    let movies: Vec<&Movie> = events
        .iter()
        .filter_map(|e| match e {
            Event::Movie(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(movies.len(), 2);
    assert_eq!(movies[1].tracks[0].desc, changed);
    assert_eq!(samples(&events).len(), 9);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// Damage applied to a valid stream.
    #[derive(Debug, Clone)]
    enum Damage {
        Set(usize, u8),
        Cut(usize),
        Insert(usize, Vec<u8>),
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
            any::<usize>().prop_map(Damage::Cut),
            (
                any::<usize>(),
                proptest::collection::vec(any::<u8>(), 1..12)
            )
                .prop_map(|(i, v)| Damage::Insert(i, v)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the damage, the demuxer returns events or an error: it never panics,
        /// and no event describes more payload than the stream holds.
        #[test]
        fn damaged_streams_never_panic(
            damages in proptest::collection::vec(damage(), 1..6),
            step in 1usize..300,
        ) {
            let mut data = stream();
            for d in damages {
                match d {
                    Damage::Set(i, b) => {
                        let n = data.len();
                        if n > 0 {
                            data[i % n] = b;
                        }
                    }
                    Damage::Cut(i) => data.truncate(i % (data.len() + 1)),
                    Damage::Insert(i, v) => {
                        let at = i % (data.len() + 1);
                        data.splice(at..at, v);
                    }
                }
            }
            if let Ok(events) = demux(&data, step) {
                let total: usize = samples(&events).iter().map(|s| s.payload.len()).sum();
                prop_assert!(total <= data.len());
            }
        }
    }
}

#[test]
fn tracks_that_are_neither_video_nor_audio_are_skipped() {
    let mut s = init();
    // The audio track's handler becomes a text one.
    let at = s
        .windows(4)
        .position(|w| w == b"soun")
        .expect("soun handler");
    s[at..at + 4].copy_from_slice(b"text");
    let mut d = Demuxer::new(VecSource::default());
    d.source_mut().push(&s);
    let Some(Event::Movie(movie)) = d.next_event().unwrap() else {
        panic!("a movie")
    };
    assert_eq!(movie.tracks.len(), 1);
    assert_eq!(movie.skipped.len(), 1);
    assert_eq!(movie.skipped[0].track_id, 2);
    assert!(
        movie.skipped[0].why.contains("'text'"),
        "{}",
        movie.skipped[0].why
    );
}

#[test]
fn the_fragments_read_are_indexed_once_in_file_order() {
    let data = stream();
    let mut d = Demuxer::new(VecSource::default());
    d.source_mut().push(&data);
    while d.next_event().unwrap().is_some() {}
    let offsets: Vec<u64> = d.seen().fragments.iter().map(|f| f.offset).collect();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    assert_eq!(
        &data[offsets[1] as usize + 4..offsets[1] as usize + 8],
        b"moof"
    );
    // Read again from the second fragment (a seek back): nothing is added twice.
    d.reset_at(VecSource::default(), offsets[1]);
    d.source_mut().push(&data[offsets[1] as usize..]);
    while d.next_event().unwrap().is_some() {}
    let again: Vec<u64> = d.seen().fragments.iter().map(|f| f.offset).collect();
    assert_eq!(again, offsets);
    // The second fragment's video presents at 9000 + 3000 ticks of 90 kHz.
    let video = d.seen().fragments[1]
        .tracks
        .iter()
        .find(|t| t.track_id == 1)
        .unwrap();
    assert_eq!(video.first, 12000 * 1_000_000_000 / 90000);
}
