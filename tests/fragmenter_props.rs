//! Property tests of the pure fragmenter: random tracks, jitter, gaps, reordering,
//! backwards DTS, format changes and random call orders must keep the invariants.

use gstfragmp4::fragmenter::{Accepted, Fragment, Fragmenter, Sample, TrackSpec};
use proptest::prelude::*;

const MS: i64 = 1_000_000;

#[derive(Debug, Clone)]
struct Step {
    /// DTS increment in ms (0 = a repeated DTS, which must be dropped).
    advance_ms: u16,
    /// Presentation delay in frames (B-frame reordering), video only.
    reorder: u8,
    keyframe: bool,
    size: u16,
    /// Go backwards by this many ms instead of forward.
    backwards: bool,
    /// Call pop_fragment / pop_fragment_now / set_next_dts / change_format after it.
    action: u8,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u16..120,
        0u8..3,
        prop::bool::weighted(0.15),
        1u16..2000,
        prop::bool::weighted(0.03),
        0u8..20,
    )
        .prop_map(
            |(advance_ms, reorder, keyframe, size, backwards, action)| Step {
                advance_ms,
                reorder,
                keyframe,
                size,
                backwards,
                action,
            },
        )
}

type Payload = (usize, usize);

struct Checker {
    /// Expected next tfdt per track, and whether it is only a lower bound.
    next_tfdt: Vec<Option<(u64, bool)>>,
    seen: Vec<Vec<usize>>,
    video: Vec<bool>,
}

impl Checker {
    fn fragment(&mut self, f: &Fragment<Payload>) {
        let mut tracks_seen = vec![];
        for t in &f.tracks {
            assert!(!tracks_seen.contains(&t.track), "one traf per track");
            tracks_seen.push(t.track);
            assert_eq!(t.samples.len(), t.payloads.len());
            assert!(!t.samples.is_empty());
            assert!(t.samples.iter().all(|s| s.duration > 0), "durations > 0");
            match self.next_tfdt[t.track] {
                Some((n, false)) => assert_eq!(
                    t.base_decode_time, n,
                    "tfdt continuity on track {}",
                    t.track
                ),
                Some((n, true)) => {
                    assert!(t.base_decode_time >= n, "no overlap after a guessed end")
                }
                None => {}
            }
            let total: u64 = t.samples.iter().map(|s| u64::from(s.duration)).sum();
            self.next_tfdt[t.track] = Some((t.base_decode_time + total, t.open_end));
            if self.video[t.track] && t.track == 0 && f.keyframe_start {
                assert!(t.samples[0].sync, "fragments start with a video keyframe");
            }
            for (s, p) in t.samples.iter().zip(&t.payloads) {
                assert_eq!(p.0, t.track);
                self.seen[t.track].push(p.1);
                let _ = s;
            }
        }
    }
}

fn run(
    video: bool,
    audio_tracks: usize,
    duration_ms: u64,
    chunk_ms: Option<u64>,
    steps: Vec<(usize, Step)>,
) {
    let mut f: Fragmenter<Payload> = Fragmenter::new(duration_ms * MS as u64);
    f.set_chunk_duration(chunk_ms.map(|c| c * MS as u64));
    let mut specs = vec![];
    if video {
        specs.push(TrackSpec {
            is_video: true,
            timescale: 90000,
            default_duration: Some(40 * MS as u64),
        });
    }
    for _ in 0..audio_tracks {
        specs.push(TrackSpec {
            is_video: false,
            timescale: 48000,
            default_duration: Some(21_333_333),
        });
    }
    for s in &specs {
        f.add_track(*s);
    }
    let n = specs.len();
    let mut checker = Checker {
        next_tfdt: vec![None; n],
        seen: vec![vec![]; n],
        video: specs.iter().map(|s| s.is_video).collect(),
    };
    let mut accepted: Vec<Vec<usize>> = vec![vec![]; n];
    // Every step's DTS, known in advance so a "next DTS waiting upstream" hint can be
    // the truth, as the element's pad heads are.
    let steps: Vec<(usize, Step)> = steps.into_iter().map(|(t, s)| (t % n, s)).collect();
    let mut dts_of = Vec::with_capacity(steps.len());
    let mut d = vec![-50 * MS; n];
    for (track, st) in &steps {
        let delta = i64::from(st.advance_ms) * MS;
        d[*track] += if st.backwards { -delta } else { delta };
        dts_of.push(d[*track]);
    }
    let mut dts = vec![-50 * MS; n];
    let mut index = vec![0usize; n];
    let mut last_accepted: Vec<Option<i64>> = vec![None; n];
    for (k, (track, st)) in steps.iter().cloned().enumerate() {
        dts[track] = dts_of[k];
        let is_video = specs[track].is_video;
        let pts = dts[track]
            + if is_video {
                i64::from(st.reorder) * 40 * MS
            } else {
                0
            };
        let i = index[track];
        index[track] += 1;
        let sample = Sample {
            dts: dts[track],
            pts,
            duration: if st.size % 3 == 0 {
                None
            } else {
                Some(20 * MS as u64)
            },
            keyframe: !is_video || st.keyframe,
            size: u32::from(st.size),
            payload: (track, i),
        };
        if f.push(track, sample) == Accepted::Queued {
            accepted[track].push(i);
            last_accepted[track] = Some(dts[track]);
        }
        match st.action {
            0..=9 => {
                while let Some(fr) = f.pop_fragment() {
                    checker.fragment(&fr);
                }
            }
            10 => {
                if let Some(fr) = f.pop_fragment_now() {
                    checker.fragment(&fr);
                }
            }
            11 => {
                // Only a sample that will be accepted: later DTS, and audio (video may
                // be waiting for a keyframe).
                let next = (k + 1..steps.len()).find(|&j| steps[j].0 == track);
                if let Some(j) = next
                    && !is_video
                    && last_accepted[track].is_none_or(|l| dts_of[j] > l)
                {
                    f.set_next_dts(track, Some(dts_of[j]));
                }
            }
            12 => f.set_next_dts(track, None),
            13 => {
                // Same timescale: the timeline must stay continuous across the change.
                f.change_format(track, specs[track]);
            }
            _ => {}
        }
    }
    for t in 0..n {
        f.set_eos(t);
    }
    while let Some(fr) = f.pop_fragment() {
        checker.fragment(&fr);
    }
    assert!(f.is_finished(), "everything written at EOS");
    for t in 0..n {
        assert_eq!(
            checker.seen[t], accepted[t],
            "track {t}: every accepted sample exactly once, in order"
        );
        let st = f.stats(t);
        assert_eq!(
            accepted[t].len() as u64 + st.dropped_before_keyframe + st.dropped_bad_dts,
            index[t] as u64
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn video_and_audio(duration_ms in 1u64..3000, audio in 0usize..3, chunk_ms in prop::option::of(0u64..500), steps in prop::collection::vec((0usize..3, step()), 1..400)) {
        run(true, audio, duration_ms, chunk_ms, steps);
    }

    #[test]
    fn audio_only(duration_ms in 1u64..3000, steps in prop::collection::vec((0usize..2, step()), 1..300)) {
        run(false, 2, duration_ms, None, steps);
    }
}
