//! Streams whose `moof`s hold one track each (as GStreamer's mp4mux writes them), with
//! holes and tracks that end early: samples leave in decode order across tracks.

use super::interleave::{MIN_GAP_NS, ticks_to_ns};
use super::tests::{aus, find, init, patch, payload, vs};
use super::*;
use crate::boxes::{SampleDesc, TrafDesc, write_chunk_header};

const VIDEO: u32 = 1;
const AUDIO: u32 = 2;
/// A video frame: 3000 ticks at 90 kHz (30 fps); a second of audio: 47 AAC frames.
const FRAME: u64 = 3000;
const AUDIO_RUN: usize = 47;

/// A `moof` + `mdat` of one track; `first` numbers the payloads.
fn one_track(seq: u32, track: u32, base: u64, samples: &[SampleDesc], first: usize) -> Vec<u8> {
    let mut out = write_chunk_header(
        seq,
        &[TrafDesc {
            track_id: track,
            base_decode_time: base,
            samples,
        }],
    )
    .unwrap();
    for (i, s) in samples.iter().enumerate() {
        out.extend(payload(track, first + i, s.size));
    }
    out
}

/// One second of video starting at second `k`: a keyframe and 29 frames.
fn video_second(seq: u32, k: u64) -> Vec<u8> {
    let samples: Vec<SampleDesc> = (0..30).map(|i| vs(200 + i, i == 0, 0)).collect();
    one_track(seq, VIDEO, k * 30 * FRAME, &samples, (k * 30) as usize)
}

/// The `k`-th run of 47 audio frames.
fn audio_run(seq: u32, k: u64) -> Vec<u8> {
    let samples: Vec<SampleDesc> = (0..AUDIO_RUN as u32).map(|i| aus(20 + i)).collect();
    one_track(
        seq,
        AUDIO,
        k * (AUDIO_RUN as u64) * 1024,
        &samples,
        k as usize * AUDIO_RUN,
    )
}

/// What the demuxer yielded, and the most payload it held meanwhile.
struct Run {
    /// Before [`Demuxer::end`].
    before_end: Vec<Event<Vec<u8>>>,
    after_end: Vec<Event<Vec<u8>>>,
    max_held: u64,
}

impl Run {
    fn all(&self) -> impl Iterator<Item = &Event<Vec<u8>>> {
        self.before_end.iter().chain(&self.after_end)
    }
}

fn run(data: &[u8], step: usize, end: bool) -> Run {
    let mut d = Demuxer::new(VecSource::default());
    let mut before_end = Vec::new();
    let mut max_held = 0;
    for piece in data.chunks(step) {
        d.source_mut().push(piece);
        while let Some(ev) = d.next_event().unwrap() {
            before_end.push(ev);
        }
        max_held = max_held.max(d.held_bytes());
    }
    let mut after_end = Vec::new();
    if end {
        d.finish().unwrap();
        d.end();
        while let Some(ev) = d.next_event().unwrap() {
            after_end.push(ev);
        }
    }
    Run {
        before_end,
        after_end,
        max_held,
    }
}

/// Decode time in ns of a sample event.
fn time(s: &Sample<Vec<u8>>) -> i128 {
    let ts = if s.info.track_id == VIDEO {
        90_000
    } else {
        48_000
    };
    ticks_to_ns(s.info.dts, ts)
}

fn samples<'a>(events: impl Iterator<Item = &'a Event<Vec<u8>>>) -> Vec<&'a Sample<Vec<u8>>> {
    events
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// Every sample of each track, in order, with its bytes.
fn assert_complete(samples: &[&Sample<Vec<u8>>], video: usize, audio: usize) {
    for (track, count) in [(VIDEO, video), (AUDIO, audio)] {
        let got: Vec<_> = samples
            .iter()
            .filter(|s| s.info.track_id == track)
            .collect();
        assert_eq!(got.len(), count, "track {track}");
        for (i, s) in got.iter().enumerate() {
            assert_eq!(
                s.payload,
                payload(track, i, s.info.size),
                "track {track} #{i}"
            );
        }
    }
}

#[test]
fn one_moof_per_track_leaves_in_decode_order() {
    let mut data = init();
    let mut seq = 1;
    for k in 0..4 {
        data.extend(video_second(seq, k));
        data.extend(audio_run(seq + 1, k));
        seq += 2;
    }
    let whole = run(&data, data.len(), true);
    let s = samples(whole.all());
    assert_complete(&s, 120, 4 * AUDIO_RUN);
    for pair in s.windows(2) {
        assert!(
            time(pair[0]) <= time(pair[1]),
            "track {} at {} ns before track {} at {} ns",
            pair[0].info.track_id,
            time(pair[0]),
            pair[1].info.track_id,
            time(pair[1])
        );
    }
    // Fragments end in stream order, each once all its samples have left.
    let ends: Vec<u32> = whole
        .all()
        .filter_map(|e| match e {
            Event::FragmentEnd { sequence, .. } => Some(*sequence),
            _ => None,
        })
        .collect();
    assert_eq!(ends, (1..=8).collect::<Vec<u32>>());
    assert!(!whole.all().any(|e| matches!(e, Event::Gap { .. })));
    // Read in small pieces: the same events, and never more than two runs of each
    // track held.
    let pieces = run(&data, 7, true);
    assert_eq!(
        pieces.all().collect::<Vec<_>>(),
        whole.all().collect::<Vec<_>>()
    );
    let one_second: u64 =
        (0..30).map(|i| 200 + i).sum::<u64>() + (0..AUDIO_RUN as u64).map(|i| 20 + i).sum::<u64>();
    assert!(
        pieces.max_held > 0 && pieces.max_held <= 2 * one_second,
        "held {} bytes",
        pieces.max_held
    );
}

#[test]
fn a_track_that_ends_early_ends_first() {
    let mut data = init();
    data.extend(video_second(1, 0));
    data.extend(audio_run(2, 0));
    for k in 1..4 {
        data.extend(video_second(k as u32 + 2, k));
    }
    let r = run(&data, 1000, true);
    let audio_end = ticks_to_ns(AUDIO_RUN as u64 * 1024, 48_000);
    // Before the end of the stream, video leaves only as far as the audio reaches.
    let early = samples(r.before_end.iter());
    assert!(early.iter().all(|s| time(s) <= audio_end));
    assert!(
        early
            .iter()
            .any(|s| s.info.track_id == VIDEO && time(s) > 900_000_000)
    );
    // At the end, the audio ends before the rest of the video leaves.
    assert_eq!(
        r.after_end.first(),
        Some(&Event::TrackEnd { track_id: AUDIO })
    );
    assert_eq!(
        r.after_end.last(),
        Some(&Event::TrackEnd { track_id: VIDEO })
    );
    assert_complete(&samples(r.all()), 120, AUDIO_RUN);
    assert!(!r.all().any(|e| matches!(e, Event::Gap { .. })));
}

#[test]
fn a_hole_in_a_track_is_a_gap() {
    let mut data = init();
    data.extend(video_second(1, 0));
    data.extend(audio_run(2, 0));
    data.extend(video_second(3, 1));
    data.extend(video_second(4, 2));
    // No audio for two runs, then the fourth.
    data.extend(audio_run(5, 3));
    data.extend(video_second(6, 3));
    let r = run(&data, 500, true);
    let hole_start = ticks_to_ns(AUDIO_RUN as u64 * 1024, 48_000);
    let hole_end = ticks_to_ns(3 * AUDIO_RUN as u64 * 1024, 48_000);
    let events: Vec<_> = r.all().collect();
    let gaps: Vec<(usize, u32, u64, u64)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Gap {
                track_id,
                start,
                duration,
            } => Some((i, *track_id, *start, *duration)),
            _ => None,
        })
        .collect();
    assert_eq!(
        gaps.iter().map(|g| (g.1, g.2, g.3)).collect::<Vec<_>>(),
        [(AUDIO, hole_start as u64, (hole_end - hole_start) as u64)]
    );
    // Announced before video runs more than the tolerance into the hole.
    let first_late_video = events
        .iter()
        .position(|e| {
            matches!(e, Event::Sample(s) if s.info.track_id == VIDEO && time(s) > hole_start + MIN_GAP_NS)
        })
        .unwrap();
    assert!(gaps[0].0 < first_late_video);
    let s = samples(r.all());
    assert!(s.windows(2).all(|p| time(p[0]) <= time(p[1])));
    // The audio's payload numbering skips the hole.
    assert_eq!(
        s.iter().filter(|s| s.info.track_id == AUDIO).count(),
        2 * AUDIO_RUN
    );
}

#[test]
fn past_the_lookahead_an_absent_track_gets_gaps() {
    let mut data = init();
    data.extend(video_second(1, 0));
    data.extend(audio_run(2, 0));
    for k in 1..16 {
        data.extend(video_second(k as u32 + 2, k));
    }
    // The stream goes on (no end): video beyond the audio still leaves, and the audio
    // is covered by gaps as far as the video went.
    let r = run(&data, 4096, false);
    let early = samples(r.before_end.iter());
    let last_video = early
        .iter()
        .filter(|s| s.info.track_id == VIDEO)
        .map(|s| time(s))
        .max()
        .unwrap();
    assert!(
        last_video > 4_000_000_000,
        "video left up to {last_video} ns"
    );
    let covered = r
        .before_end
        .iter()
        .filter_map(|e| match e {
            Event::Gap {
                track_id: AUDIO,
                start,
                duration,
            } => Some(i128::from(start + duration)),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(
        covered >= last_video - MIN_GAP_NS,
        "audio covered to {covered}"
    );
    assert!(early.windows(2).all(|p| time(p[0]) <= time(p[1])));
}

#[test]
fn samples_held_before_a_fault_still_leave() {
    let mut data = init();
    // Video alone: held, waiting for the audio.
    data.extend(video_second(1, 0));
    let mut bad = audio_run(2, 0);
    let trun = find(&bad, b"trun");
    patch(&mut bad, trun + 16, 8);
    data.extend(bad);
    let mut d = Demuxer::new(VecSource::default());
    d.source_mut().push(&data);
    let mut events = Vec::new();
    let err = loop {
        match d.next_event() {
            Ok(Some(ev)) => events.push(ev),
            Ok(None) => panic!("an error expected"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, DemuxError::OutsideMdat { .. }), "{err}");
    assert!(
        samples(events.iter()).is_empty(),
        "held while audio may come"
    );
    d.end();
    while let Some(ev) = d.next_event().unwrap() {
        events.push(ev);
    }
    assert_eq!(samples(events.iter()).len(), 30);
}
