use super::*;

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000_000_000;

fn video(timescale: u32, frame_ns: u64) -> TrackSpec {
    TrackSpec {
        is_video: true,
        timescale,
        default_duration: Some(frame_ns),
    }
}

fn audio() -> TrackSpec {
    TrackSpec {
        is_video: false,
        timescale: 48000,
        default_duration: Some(1024 * 1_000_000_000 / 48000),
    }
}

fn s(dts: i64, pts: i64, keyframe: bool) -> Sample<()> {
    Sample {
        dts,
        pts,
        duration: None,
        keyframe,
        size: 10,
        payload: (),
    }
}

/// Frame `i` of a 30000/1001 stream, in ns, exactly as a pipeline would round it.
fn ntsc(i: i64) -> i64 {
    (i as i128 * 1001 * SEC as i128 / 30000) as i64
}

fn drain<P>(f: &mut Fragmenter<P>) -> Vec<Fragment<P>> {
    std::iter::from_fn(|| f.pop_fragment()).collect()
}

#[test]
fn cuts_at_first_keyframe_after_the_threshold() {
    let mut f = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 33_333_333));
    // 30 fps, keyframe every 20 frames (0.667 s): cut at frame 40 (1.333 s).
    for i in 0..100 {
        let t = i * SEC / 30;
        assert_eq!(f.push(v, s(t, t, i % 20 == 0)), Accepted::Queued);
    }
    let frags = drain(&mut f);
    assert_eq!(frags.len(), 2);
    assert_eq!(frags[0].tracks[0].samples.len(), 40);
    assert_eq!(frags[1].tracks[0].samples.len(), 40);
    assert!(frags.iter().all(|fr| fr.tracks[0].samples[0].sync));
    // The remaining 20 frames wait for EOS.
    assert_eq!(f.queued(v), 20);
    f.set_eos(v);
    let last = drain(&mut f);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].tracks[0].samples.len(), 20);
    assert!(f.is_finished());
}

#[test]
fn ntsc_durations_do_not_drift() {
    let mut f = Fragmenter::new(2 * SEC as u64);
    let v = f.add_track(video(30000, 33_366_667));
    for i in 0..3000 {
        f.push(v, s(ntsc(i), ntsc(i), i % 60 == 0));
    }
    f.set_eos(v);
    let frags = drain(&mut f);
    let mut expected_tfdt = 0u64;
    let mut count = 0;
    for fr in &frags {
        let t = &fr.tracks[0];
        assert_eq!(t.base_decode_time, expected_tfdt);
        assert!(t.samples.iter().all(|s| s.duration == 1001));
        expected_tfdt += t.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
        count += t.samples.len();
    }
    assert_eq!(count, 3000);
    assert_eq!(expected_tfdt, 3000 * 1001);
}

#[test]
fn rounding_jitter_never_accumulates_at_90khz() {
    // 30000/1001 in a 90 kHz timescale: frames are 3003 ticks, but ns timestamps
    // are rounded; tfdt must still equal the rounded absolute time.
    let mut f = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 33_366_667));
    for i in 0..1000 {
        f.push(v, s(ntsc(i), ntsc(i), i % 30 == 0));
    }
    f.set_eos(v);
    let mut total = 0u64;
    for fr in drain(&mut f) {
        let t = &fr.tracks[0];
        assert_eq!(t.base_decode_time, total);
        total += t.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
    }
    assert_eq!(total, 1000 * 3003);
}

#[test]
fn last_sample_duration_from_buffer_then_default_then_previous() {
    for (duration, default, expected) in [
        (Some(50 * MS as u64), Some(40 * MS as u64), 4500),
        (None, Some(40 * MS as u64), 3600),
        (None, None, 3000),
    ] {
        let mut f = Fragmenter::new(SEC as u64);
        let v = f.add_track(TrackSpec {
            is_video: true,
            timescale: 90000,
            default_duration: default,
        });
        f.push(v, s(0, 0, true));
        let mut last = s(SEC / 30, SEC / 30, false);
        last.duration = duration;
        f.push(v, last);
        f.set_eos(v);
        let fr = f.pop_fragment().unwrap();
        let d: Vec<u32> = fr.tracks[0].samples.iter().map(|s| s.duration).collect();
        assert_eq!(d, vec![3000, expected]);
    }
}

#[test]
fn drops_video_before_first_keyframe_and_backwards_dts() {
    let mut f = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 33_333_333));
    assert_eq!(f.push(v, s(0, 0, false)), Accepted::DroppedBeforeKeyframe);
    assert_eq!(f.push(v, s(10, 10, false)), Accepted::DroppedBeforeKeyframe);
    assert_eq!(f.push(v, s(20, 20, true)), Accepted::Queued);
    assert_eq!(
        f.push(v, s(20, 30, false)),
        Accepted::DroppedNonIncreasingDts { previous: 20 }
    );
    assert_eq!(f.push(v, s(30, 30, false)), Accepted::Queued);
    let st = f.stats(v);
    assert_eq!(st.dropped_before_keyframe, 2);
    assert_eq!(st.dropped_bad_dts, 1);
    f.set_eos(v);
    let fr = f.pop_fragment().unwrap();
    assert_eq!(fr.tracks[0].samples.len(), 2);
    assert_eq!(f.origin(), Some(20));
}

/// Video with B-frames (PTS = DTS + 2 frames) and a negative first DTS, plus audio from 0.
fn av_stream(f: &mut Fragmenter<(i64, i64)>, v: usize, a: usize, frames: i64) {
    let frame = SEC / 25;
    let afr = 1024 * SEC / 48000;
    let mut ai = 0;
    for i in 0..frames {
        let dts = i * frame - 2 * frame;
        let pts = dts + 2 * frame;
        // Interleave by DTS as the aggregator does.
        while ai * afr < dts {
            let t = ai * afr;
            f.push(
                a,
                Sample {
                    dts: t,
                    pts: t,
                    duration: Some(afr as u64),
                    keyframe: true,
                    size: 5,
                    payload: (t, t),
                },
            );
            ai += 1;
        }
        f.push(
            v,
            Sample {
                dts,
                pts,
                duration: Some(frame as u64),
                keyframe: i % 25 == 0,
                size: 9,
                payload: (dts, pts),
            },
        );
    }
    while ai * afr < (frames - 2) * frame {
        let t = ai * afr;
        f.push(
            a,
            Sample {
                dts: t,
                pts: t,
                duration: Some(afr as u64),
                keyframe: true,
                size: 5,
                payload: (t, t),
            },
        );
        ai += 1;
    }
}

#[test]
fn audio_is_cut_on_the_video_presentation_timeline() {
    let mut f = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    av_stream(&mut f, v, a, 125);
    f.set_eos(v);
    f.set_eos(a);
    let frags = drain(&mut f);
    assert_eq!(frags.len(), 5);
    let origin = f.origin().unwrap();
    assert_eq!(origin, -80 * MS);
    for (n, fr) in frags.iter().enumerate() {
        let vt = fr.tracks.iter().find(|t| t.track == v).unwrap();
        let at = fr.tracks.iter().find(|t| t.track == a).unwrap();
        let cut_start = vt.payloads[0].1;
        assert_eq!(cut_start, n as i64 * SEC);
        let next = frags
            .get(n + 1)
            .map(|x| x.tracks.iter().find(|t| t.track == v).unwrap().payloads[0].1);
        for &(_, pts) in &at.payloads {
            if n > 0 {
                assert!(
                    pts >= cut_start,
                    "audio {pts} before fragment start {cut_start}"
                );
            }
            if let Some(next) = next {
                assert!(pts < next, "audio {pts} after the cut {next}");
            }
        }
        // tfdt = running time - origin, to the tick.
        let (adts, _) = at.payloads[0];
        let rounded = ((adts - origin) as i128 * 48000 + SEC as i128 / 2) / SEC as i128;
        assert_eq!(at.base_decode_time as i128, rounded);
        let (vdts, vpts) = vt.payloads[0];
        assert_eq!(vt.base_decode_time as i64, (vdts - origin) * 90 / 1_000_000);
        let cto = i64::from(vt.samples[0].composition_offset);
        assert_eq!(
            vt.base_decode_time as i64 + cto,
            (vpts - origin) * 90 / 1_000_000
        );
    }
    // The first audio PTS keeps its offset from the first video PTS exactly.
    let first = &frags[0];
    let at = first.tracks.iter().find(|t| t.track == a).unwrap();
    let vt = first.tracks.iter().find(|t| t.track == v).unwrap();
    let v_pts_ticks = vt.base_decode_time as i64 + i64::from(vt.samples[0].composition_offset);
    assert_eq!(v_pts_ticks, 7200); // PTS 0 is 80 ms after the origin
    assert_eq!(at.base_decode_time, 3840); // 80 ms at 48 kHz
}

#[test]
fn waits_for_audio_up_to_the_cut() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    f.push(a, s(0, 0, true));
    for i in 0..=25 {
        let t = i * SEC / 25;
        f.push(v, s(t, t, i % 25 == 0));
    }
    // Keyframe at 1 s has arrived, audio only up to 0: not yet.
    assert!(f.pop_fragment().is_none());
    let mut i = 1;
    while i * afr < SEC {
        f.push(a, s(i * afr, i * afr, true));
        i += 1;
    }
    assert!(f.pop_fragment().is_none());
    f.push(a, s(i * afr, i * afr, true));
    let fr = f.pop_fragment().expect("audio reached the cut");
    assert_eq!(fr.tracks[1].samples.len() as i64, i);
    assert!(fr.keyframe_start);
    // A live timeout writes without waiting.
    let mut g: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = g.add_track(video(90000, 40_000_000));
    let _a = g.add_track(audio());
    for i in 0..=25 {
        let t = i * SEC / 25;
        g.push(v, s(t, t, i % 25 == 0));
    }
    assert!(g.pop_fragment().is_none());
    let fr = g.pop_fragment_now().expect("timeout forces output");
    assert_eq!(fr.tracks.len(), 1);
    assert_eq!(fr.tracks[0].samples.len(), 25);
}

#[test]
fn audio_only_cuts_on_an_absolute_grid() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    for i in 0..500 {
        f.push(a, s(i * afr, i * afr, true));
    }
    f.set_eos(a);
    let frags = drain(&mut f);
    let mut n = 0i64;
    for (k, fr) in frags[..frags.len() - 1].iter().enumerate() {
        n += fr.tracks[0].samples.len() as i64;
        // Fragment k ends before the first frame at or after (k + 1) seconds.
        let k = k as i64 + 1;
        assert!(n * afr >= k * SEC);
        assert!((n - 1) * afr < k * SEC);
    }
    let total: usize = frags.iter().map(|fr| fr.tracks[0].samples.len()).sum();
    assert_eq!(total, 500);
}

#[test]
fn every_sample_comes_out_once_in_order() {
    let mut f = Fragmenter::new(700 * MS as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    av_stream(&mut f, v, a, 200);
    f.set_eos(v);
    f.set_eos(a);
    let frags = drain(&mut f);
    let mut got_v = Vec::new();
    let mut got_a = Vec::new();
    let mut next = [None::<u64>; 2];
    for fr in &frags {
        for t in &fr.tracks {
            if let Some(n) = next[t.track] {
                assert_eq!(t.base_decode_time, n, "tfdt continuity");
            }
            assert!(t.samples.iter().all(|s| s.duration > 0));
            next[t.track] = Some(
                t.base_decode_time + t.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>(),
            );
            let dst = if t.track == v { &mut got_v } else { &mut got_a };
            dst.extend(t.payloads.iter().copied());
        }
    }
    assert_eq!(got_v.len(), 200);
    assert!(got_v.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(got_a.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(f.is_finished());
}

#[test]
fn a_pending_sample_beyond_the_cut_releases_the_fragment() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    f.push(a, s(0, 0, true));
    for i in 0..=25 {
        let t = i * SEC / 25;
        f.push(v, s(t, t, i % 25 == 0));
    }
    f.set_next_dts(a, Some(SEC - 1));
    assert!(f.pop_fragment().is_none());
    f.set_next_dts(a, Some(SEC));
    let fr = f.pop_fragment().expect("audio's next sample is at the cut");
    assert_eq!(fr.tracks[0].samples.len(), 25);
    assert_eq!(fr.tracks[1].samples.len(), 1);
}

#[test]
fn a_late_track_does_not_hold_back_the_origin() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    for i in 0..=25 {
        let t = i * SEC / 25;
        f.push(v, s(t, t, i % 25 == 0));
    }
    assert!(f.pop_fragment().is_none(), "audio not known yet");
    // Audio starts at 5 s: its first buffer waits upstream.
    f.set_next_dts(a, Some(5 * SEC));
    let fr = f
        .pop_fragment()
        .expect("video fragment without waiting for audio");
    assert_eq!(f.origin(), Some(0));
    assert_eq!(fr.tracks.len(), 1);
}

#[test]
fn audio_format_change_ends_the_fragment_at_the_next_keyframe() {
    let mut f: Fragmenter<(i64, u32)> = Fragmenter::new(2 * SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    let mut ai = 0;
    for i in 0..100 {
        let t = i * SEC / 25;
        while ai * afr < t {
            if ai * afr >= SEC / 2 && ai * afr < SEC / 2 + afr {
                let spec = TrackSpec {
                    timescale: 44100,
                    ..audio()
                };
                assert_eq!(f.change_format(a, spec), 1);
            }
            let at = ai * afr;
            f.push(
                a,
                Sample {
                    dts: at,
                    pts: at,
                    duration: None,
                    keyframe: true,
                    size: 1,
                    payload: (at, 0),
                },
            );
            ai += 1;
        }
        f.push(
            v,
            Sample {
                dts: t,
                pts: t,
                duration: None,
                keyframe: i % 25 == 0,
                size: 1,
                payload: (t, 0),
            },
        );
    }
    f.set_eos(v);
    f.set_eos(a);
    let frags = drain(&mut f);
    // The change at 0.5 s cuts at the keyframe at 1 s instead of 2 s.
    let vt = &frags[0].tracks[0];
    assert_eq!(vt.samples.len(), 25);
    let at = &frags[0].tracks[1];
    assert!(
        at.payloads.iter().all(|p| p.0 < SEC / 2),
        "only old-format audio in fragment 1"
    );
    assert_eq!(at.generation, 0);
    // New-format audio opens the next fragment even though it presents before 1 s.
    let at2 = frags[1].tracks.iter().find(|t| t.track == a).unwrap();
    assert_eq!(at2.generation, 1);
    assert!(at2.payloads[0].0 >= SEC / 2 && at2.payloads[0].0 < SEC);
    let first_new = at2.payloads[0].0;
    let rounded = (first_new as i128 * 44100 + SEC as i128 / 2) / SEC as i128;
    assert_eq!(
        at2.base_decode_time as i128, rounded,
        "tfdt in the new timescale"
    );
    // Afterwards fragments are 2 s again; nothing is lost.
    assert_eq!(frags[1].tracks[0].samples.len(), 50);
    let total_audio: usize = frags
        .iter()
        .flat_map(|fr| fr.tracks.iter())
        .filter(|t| t.track == a)
        .map(|t| t.samples.len())
        .sum();
    assert_eq!(total_audio as i64, ai);
}

#[test]
fn video_format_change_cuts_before_the_new_keyframe_and_drops_deltas_before_it() {
    let mut f: Fragmenter<()> = Fragmenter::new(10 * SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    for i in 0..30 {
        let t = i * SEC / 25;
        f.push(v, s(t, t, i % 25 == 0));
    }
    f.change_format(
        v,
        TrackSpec {
            timescale: 30000,
            ..video(90000, 40_000_000)
        },
    );
    // Two delta units under the new caps before its keyframe: dropped.
    for i in 30..32 {
        let t = i * SEC / 25;
        assert_eq!(f.push(v, s(t, t, false)), Accepted::DroppedBeforeKeyframe);
    }
    for i in 32..50 {
        let t = i * SEC / 25;
        assert_eq!(f.push(v, s(t, t, i == 32)), Accepted::Queued);
    }
    let fr = f.pop_fragment().expect("cut right before the new format");
    assert_eq!(fr.tracks[0].samples.len(), 30);
    assert_eq!(fr.tracks[0].generation, 0);
    // The last old sample lasts until the new keyframe (3 frames of 40 ms).
    assert_eq!(fr.tracks[0].samples[29].duration, 3 * 3600);
    f.set_eos(v);
    let fr = f.pop_fragment().unwrap();
    assert_eq!(fr.tracks[0].generation, 1);
    assert_eq!(fr.tracks[0].base_decode_time, 32 * 1200); // 1.28 s at 30 kHz
    assert_eq!(f.stats(v).dropped_before_keyframe, 2);
}

#[test]
fn a_stalled_video_does_not_hold_audio_back_on_timeout() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    for i in 0..10 {
        f.push(v, s(i * SEC / 25, i * SEC / 25, i == 0));
    }
    for i in 0..150 {
        f.push(a, s(i * afr, i * afr, true));
    }
    assert_eq!(f.deadline(), Some(SEC));
    // Video stops at 0.36 s: no keyframe cut, and waiting does not help.
    assert!(f.pop_fragment().is_none());
    f.set_next_dts(v, Some(10 * SEC / 25));
    assert!(
        f.pop_fragment_now().is_none(),
        "video is only late, not stalled"
    );
    f.set_next_dts(v, None);
    let fr = f
        .pop_fragment_now()
        .expect("stalled video is written with the audio below its end");
    assert_eq!(fr.tracks[0].samples.len(), 10);
    assert_eq!(
        fr.tracks[1].samples.len() as i64,
        (10 * SEC / 25 + afr - 1) / afr
    );
    // Then the audio goes out on its own grid.
    let fr = f.pop_fragment_now().expect("audio on the grid");
    assert_eq!(fr.tracks.len(), 1);
    assert_eq!(fr.tracks[0].track, a);
    // Video that resumes mid-GOP is dropped until its keyframe.
    assert_eq!(
        f.push(v, s(3 * SEC, 3 * SEC, false)),
        Accepted::DroppedBeforeKeyframe
    );
    assert_eq!(
        f.push(v, s(3 * SEC + 1, 3 * SEC + 1, true)),
        Accepted::Queued
    );
}

#[test]
fn after_a_stall_audio_keeps_flowing_on_each_timeout() {
    let mut f: Fragmenter<()> = Fragmenter::new(300 * MS as u64);
    let v = f.add_track(video(90000, 33_333_333));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    let mut ai = 0;
    let mut push_audio_until = |f: &mut Fragmenter<()>, t: i64| {
        while ai * afr < t {
            f.push(a, s(ai * afr, ai * afr, true));
            ai += 1;
        }
    };
    for i in 0..36 {
        let t = i * SEC / 30;
        push_audio_until(&mut f, t);
        f.push(v, s(t, t, i % 10 == 0));
        while f.pop_fragment().is_some() {}
    }
    // Video stalls at 1.2 s: not yet a stall while the audio is less than a fragment
    // duration ahead of it.
    f.set_next_dts(v, None);
    push_audio_until(&mut f, 1300 * MS);
    assert!(f.pop_fragment_now().is_none(), "only a frame behind");
    push_audio_until(&mut f, 1500 * MS);
    let stall = f.pop_fragment_now().expect("stall flush");
    assert!(stall.tracks.iter().any(|t| t.track == v));
    let mut outputs = 0;
    for step in 1..6 {
        push_audio_until(&mut f, 1500 * MS + step * 300 * MS);
        if f.pop_fragment_now().is_some() {
            outputs += 1;
        }
    }
    assert!(outputs >= 4, "{outputs} audio fragments during the stall");
}

/// Video at 25 fps with a keyframe every second plus audio, through `f`.
fn chunked_run(chunk: Option<u64>) -> Vec<Fragment<(i64, i64)>> {
    let mut f = Fragmenter::new(SEC as u64);
    f.set_chunk_duration(chunk);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    av_stream(&mut f, v, a, 125);
    f.set_eos(v);
    f.set_eos(a);
    drain(&mut f)
}

#[test]
fn chunks_split_fragments_without_moving_their_boundaries() {
    let whole = chunked_run(None);
    let chunked = chunked_run(Some(250 * MS as u64));
    assert!(
        chunked.len() > 3 * whole.len(),
        "{} chunks for {} fragments",
        chunked.len(),
        whole.len()
    );
    // Regroup the chunks into fragments at keyframe_start: the same samples as unchunked.
    let mut fragments: Vec<Vec<&Fragment<(i64, i64)>>> = vec![];
    for c in &chunked {
        if c.keyframe_start {
            fragments.push(vec![c]);
        } else {
            fragments
                .last_mut()
                .expect("a chunk after a fragment start")
                .push(c);
        }
    }
    assert_eq!(fragments.len(), whole.len());
    for (chunks, w) in fragments.iter().zip(&whole) {
        for track in 0..2 {
            let got: Vec<(i64, i64)> = chunks
                .iter()
                .flat_map(|c| c.tracks.iter().filter(|t| t.track == track))
                .flat_map(|t| t.payloads.iter().copied())
                .collect();
            let want: Vec<(i64, i64)> = w
                .tracks
                .iter()
                .filter(|t| t.track == track)
                .flat_map(|t| t.payloads.iter().copied())
                .collect();
            assert_eq!(got, want, "track {track}");
        }
        // The first chunk of a fragment starts with the keyframe.
        let first_video = chunks[0].tracks.iter().find(|t| t.track == 0).unwrap();
        assert!(first_video.samples[0].sync);
    }
    // Chunks last about 250 ms: video chunks of 7 frames (280 ms) except at fragment ends.
    for c in &chunked {
        if let Some(t) = c.tracks.iter().find(|t| t.track == 0) {
            assert!(
                t.samples.len() <= 7,
                "{} frames in a chunk",
                t.samples.len()
            );
        }
    }
}

#[test]
fn a_chunk_duration_below_a_frame_gives_one_sample_per_chunk() {
    let chunked = chunked_run(Some(1));
    for c in &chunked {
        if let Some(t) = c.tracks.iter().find(|t| t.track == 0) {
            assert_eq!(t.samples.len(), 1);
        }
    }
    let video: usize = chunked
        .iter()
        .flat_map(|c| c.tracks.iter())
        .filter(|t| t.track == 0)
        .map(|t| t.samples.len())
        .sum();
    assert_eq!(video, 125);
    assert_eq!(
        chunked.iter().filter(|c| c.keyframe_start).count(),
        chunked_run(None).len()
    );
}

#[test]
fn a_requested_split_ends_the_fragment_at_the_next_keyframe() {
    let mut f: Fragmenter<()> = Fragmenter::new(10 * SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    for i in 0..30 {
        let t = i * SEC / 25;
        f.push(v, s(t, t, i % 5 == 0));
    }
    assert!(f.pop_fragment().is_none(), "10 s fragments: no cut yet");
    f.request_split();
    let fr = f.pop_fragment().expect("split at the next keyframe");
    assert_eq!(fr.tracks[0].samples.len(), 5);
    assert!(f.pop_fragment().is_none(), "one split per request");
}

#[test]
fn decode_time_offset_shifts_all_tracks_and_snaps_audio_to_whole_frames() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    f.set_decode_time_offset(10 * SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    f.set_frame_grid(a, Some(1024));
    let afr = 1024 * SEC / 48000;
    // Audio starts 10 ms after the video: 480480 ticks with the offset, off the grid.
    for i in 0..100 {
        let t = 10 * MS + i * afr;
        f.push(a, s(t, t, true));
    }
    for i in 0..60 {
        let t = i * SEC / 25;
        f.push(v, s(t, t, i % 25 == 0));
    }
    f.set_eos(v);
    f.set_eos(a);
    let frags = drain(&mut f);
    let vt = frags[0].tracks.iter().find(|t| t.track == v).unwrap();
    assert_eq!(
        vt.base_decode_time,
        10 * 90000,
        "video: running time - origin + offset"
    );
    let at = frags[0].tracks.iter().find(|t| t.track == a).unwrap();
    assert_eq!(
        at.base_decode_time % 1024,
        0,
        "audio on the 1024-sample grid"
    );
    let shift = at.base_decode_time as i64 - 480480;
    assert!(
        shift.abs() <= 512,
        "shifted by {shift} ticks, at most half a frame"
    );
    assert_eq!(f.snap_ticks(a), Some(shift));
    // Later fragments continue on the grid.
    let mut next = None;
    for fr in &frags {
        if let Some(t) = fr.tracks.iter().find(|t| t.track == a) {
            if let Some(n) = next {
                assert_eq!(t.base_decode_time, n);
            }
            assert_eq!(t.base_decode_time % 1024, 0);
            next = Some(
                t.base_decode_time + t.samples.iter().map(|s| u64::from(s.duration)).sum::<u64>(),
            );
        }
    }
}

#[test]
fn presentation_start_is_the_cutting_tracks_earliest_pts() {
    // Audio from 0, video 47 ms later with B-frames (PTS = DTS + 2 frames): the fragment
    // starts on the presentation timeline where its video does, not where its audio does.
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    let start = 47 * MS;
    let frame = SEC / 25;
    let mut ai = 0;
    for i in 0..60 {
        let dts = start + (i - 2) * frame;
        while ai * afr < dts + 2 * frame {
            f.push(a, s(ai * afr, ai * afr, true));
            ai += 1;
        }
        f.push(v, s(dts, dts + 2 * frame, i % 25 == 0));
    }
    let frags = drain(&mut f);
    assert_eq!(frags.len(), 2);
    // Times are converted from the ticks written (90 kHz), as a reader sees them.
    assert_eq!(
        frags[0].start_pts, 0,
        "the audio starts the fragment's bytes"
    );
    assert_eq!(frags[0].presentation_start, start);
    assert_eq!(frags[1].presentation_start, start + SEC);
    f.set_eos(v);
    f.set_eos(a);
    let rest = drain(&mut f);
    let last_video = rest
        .iter()
        .find(|fr| fr.tracks.iter().any(|t| t.track == v));
    assert_eq!(last_video.unwrap().presentation_start, start + 2 * SEC);
    // Audio only: the audio is the cutting track.
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let a = f.add_track(audio());
    for i in 3..100 {
        f.push(a, s(i * afr, i * afr, true));
    }
    let first = f.pop_fragment().unwrap();
    assert_eq!(first.presentation_start, first.start_pts);
    let second = f.pop_fragment().unwrap();
    assert_eq!(second.tracks[0].base_decode_time % 1024, 0);
    let ticks = second.tracks[0].base_decode_time as i64;
    assert_eq!(
        second.presentation_start,
        first.start_pts + ticks * SEC / 48000
    );
}

#[test]
fn keyframes_are_asked_for_only_on_the_video_timeline() {
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 33_333_333));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    for i in 0..5 {
        f.push(a, s(i * afr, i * afr, true));
    }
    // The live timeout still needs a deadline; a keyframe request must wait for the video.
    assert_eq!(f.deadline(), Some(SEC));
    assert_eq!(f.keyframe_deadline(), None);
    f.push(v, s(100 * MS, 100 * MS, true));
    assert_eq!(f.keyframe_deadline(), Some(SEC + 100 * MS));
    // Once the video has ended, nothing is asked of it.
    for i in 5..30 {
        f.push(a, s(i * afr, i * afr, true));
    }
    f.set_eos(v);
    while f.pop_fragment().is_some() {}
    assert_eq!(f.queued(v), 0);
    assert!(f.deadline().is_some());
    assert_eq!(f.keyframe_deadline(), None);
}

#[test]
fn an_audio_tail_after_the_last_frame_joins_the_last_fragment() {
    let mut f = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(30000, 33_366_667));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    // 2 s of video, audio running 21 ms past its end; video reaches EOS first.
    for i in 0..60 {
        f.push(v, s(ntsc(i), ntsc(i), i % 30 == 0));
    }
    let video_end = ntsc(60);
    let frames = (video_end + 21 * MS) / afr + 1;
    for i in 0..frames - 2 {
        f.push(a, s(i * afr, i * afr, true));
    }
    f.set_eos(v);
    let mut frags = drain(&mut f);
    for i in frames - 2..frames {
        f.push(a, s(i * afr, i * afr, true));
    }
    f.set_eos(a);
    frags.extend(drain(&mut f));
    assert_eq!(
        frags.len(),
        2,
        "no audio-only stub after the last video frame"
    );
    let audio: usize = frags
        .iter()
        .flat_map(|fr| &fr.tracks)
        .filter(|t| t.track == a)
        .map(|t| t.samples.len())
        .sum();
    assert_eq!(audio as i64, frames);
    assert!(f.is_finished());
}

#[test]
fn audio_that_goes_on_after_the_video_is_cut_on_its_own() {
    let mut f = Fragmenter::new(SEC as u64);
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    for i in 0..50 {
        let t = i * 40 * MS;
        f.push(v, s(t, t, i % 25 == 0));
    }
    f.set_eos(v);
    // 5 s of audio against 2 s of video.
    let frames = 5 * SEC / afr;
    for i in 0..frames {
        f.push(a, s(i * afr, i * afr, true));
    }
    f.set_eos(a);
    let frags = drain(&mut f);
    let last_with_video = frags
        .iter()
        .rposition(|fr| fr.tracks.iter().any(|t| t.track == v))
        .expect("video fragments");
    // The fragment that ends the video takes audio up to half a fragment past it.
    let end = frags[last_with_video].end_pts;
    assert!(end <= 2 * SEC + SEC / 2 + afr, "end {end}");
    assert!(frags.len() > last_with_video + 1, "audio continues alone");
    let audio: usize = frags
        .iter()
        .flat_map(|fr| &fr.tracks)
        .filter(|t| t.track == a)
        .map(|t| t.samples.len())
        .sum();
    assert_eq!(audio as i64, frames);
}

#[test]
fn presentation_end_covers_reordered_frames() {
    // I P B B at 30 fps in 90 kHz ticks: decode ends at 4 frames, the P frame (shown
    // third) ends at 4 frames + the one-frame reorder delay.
    let mut f = Fragmenter::new(10 * SEC as u64);
    let v = f.add_track(video(90000, 33_333_333));
    let frame = SEC / 30;
    for (i, p) in [1, 4, 2, 3].into_iter().enumerate() {
        let dts = i as i64 * frame;
        f.push(v, s(dts, p * frame, i == 0));
    }
    f.set_eos(v);
    let frags = drain(&mut f);
    let t = &frags[0].tracks[0];
    assert_eq!(t.decode_end(), 4 * 3000);
    assert_eq!(t.first_presentation(), 3000);
    assert_eq!(t.presentation_end(), 5 * 3000);
}

#[test]
fn chunks_of_the_cutting_track_tile_its_fragment() {
    // 25 fps video with audio, chunks of 200 ms: each chunk's presentation end on the
    // video is where the next chunk starts, and the last one's is the fragment's end.
    let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
    f.set_chunk_duration(Some(180 * MS as u64));
    let v = f.add_track(video(90000, 40_000_000));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    let frame = SEC / 25;
    let mut ai = 0;
    for i in 0..60 {
        let pts = i * frame;
        while ai * afr < pts + frame {
            f.push(a, s(ai * afr, ai * afr, true));
            ai += 1;
        }
        f.push(v, s(pts, pts, i % 25 == 0));
    }
    let chunks = drain(&mut f);
    assert!(chunks.len() >= 10, "{} chunks", chunks.len());
    for pair in chunks.windows(2) {
        assert_eq!(pair[0].presentation_end, pair[1].presentation_start);
    }
    for c in &chunks {
        assert_eq!(c.presentation_end - c.presentation_start, 5 * frame);
    }
}

#[test]
fn per_frame_chunks_on_timeouts_do_not_take_a_late_frame_for_a_stall() {
    // Live, chunks shorter than a frame: every timeout finds the video pad empty
    // because its next frame is a few ms behind the audio. None of that is a stall.
    let mut f: Fragmenter<()> = Fragmenter::new(2 * SEC as u64);
    f.set_chunk_duration(Some(1));
    let v = f.add_track(video(90000, 33_333_333));
    let a = f.add_track(audio());
    let afr = 1024 * SEC / 48000;
    let video_samples = |fr: &Fragment<()>| -> usize {
        fr.tracks
            .iter()
            .filter(|t| t.track == v)
            .map(|t| t.samples.len())
            .sum()
    };
    let (mut ai, mut video_out) = (0, 0);
    for i in 0..90 {
        let t = i * SEC / 30;
        while ai * afr < t + 20 * MS {
            f.push(a, s(ai * afr, ai * afr, true));
            ai += 1;
        }
        f.set_next_dts(v, None);
        while let Some(fr) = f.pop_fragment_now() {
            video_out += video_samples(&fr);
        }
        assert_eq!(
            f.push(v, s(t, t, i % 30 == 0)),
            Accepted::Queued,
            "frame {i}"
        );
        while let Some(fr) = f.pop_fragment() {
            video_out += video_samples(&fr);
        }
    }
    f.set_eos(v);
    f.set_eos(a);
    for fr in drain(&mut f) {
        video_out += video_samples(&fr);
    }
    assert_eq!(video_out, 90);
    assert_eq!(f.stats(v).dropped_before_keyframe, 0);
}

#[test]
fn a_video_slow_to_start_is_waited_for_a_fragment_duration_then_given_up() {
    let afr = 1024 * SEC / 48000;
    for (video_start, expect_video_in_first) in [(150 * MS, true), (3 * SEC, false)] {
        let mut f: Fragmenter<()> = Fragmenter::new(SEC as u64);
        f.set_chunk_duration(Some(1));
        let v = f.add_track(video(90000, 33_333_333));
        let a = f.add_track(audio());
        let mut first = None;
        let mut ai = 0;
        while ai * afr < video_start && first.is_none() {
            f.push(a, s(ai * afr, ai * afr, true));
            ai += 1;
            first = f.pop_fragment_now();
        }
        if first.is_none() {
            f.push(v, s(video_start, video_start, true));
            f.push(v, s(video_start + 33 * MS, video_start + 33 * MS, false));
            f.push(a, s(ai * afr, ai * afr, true));
            first = f.pop_fragment_now().or_else(|| f.pop_fragment());
        }
        let first = first.expect("a first fragment");
        assert_eq!(
            first.tracks.iter().any(|t| t.track == v),
            expect_video_in_first,
            "video starting at {video_start} ns"
        );
        if !expect_video_in_first {
            let audio_end = ai * afr;
            assert!(audio_end >= SEC, "given up only after a fragment duration");
        }
    }
}
