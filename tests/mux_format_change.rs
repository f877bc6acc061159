//! Caps changes mid-stream (DESIGN.md H): a new init segment before the next fragment,
//! nothing lost, track IDs, tfdt and sequence numbers continuing.

mod support;

use support::{mp4, pipeline, synth};

const SEC: u64 = 1_000_000_000;

fn launch() -> String {
    "appsrc name=v format=time ! mux.video_0 appsrc name=a format=time ! mux.audio_0 \
     fragmp4mux name=mux fragment-duration=1000000000 ! appsink name=sink"
        .to_string()
}

fn tags(samples: &[mp4::Sample]) -> Vec<u32> {
    samples.iter().map(|s| synth::tag(&s.data)).collect()
}

fn input_tags(input: &pipeline::Input) -> Vec<u32> {
    input.buffers.iter().map(|b| synth::tag(&b.data)).collect()
}

/// Samples of `track` over every init segment, in order, with the segment index.
fn all_samples(parts: &[mp4::Mp4], track: u32) -> Vec<(usize, mp4::Sample)> {
    parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.samples
                .get(&track)
                .into_iter()
                .flatten()
                .map(move |s| (i, s.clone()))
        })
        .collect()
}

#[test]
fn video_caps_change_starts_a_new_init_at_the_new_keyframe() {
    let run = pipeline::run_with(
        &launch(),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            let frames = synth::video_frames(0..80, (25, 1), 10);
            synth::push(&a, synth::audio_frames(0..150, 0));
            let mut new_caps = synth::h264_caps((25, 1), Some(&synth::AVCC_MAIN));
            {
                let s = new_caps.get_mut().unwrap().structure_mut(0).unwrap();
                s.set("width", 640i32);
                s.set("height", 480i32);
            }
            for (i, f) in frames.into_iter().enumerate() {
                if i == 35 {
                    v.set_caps(Some(&new_caps));
                }
                // Frame 35 is not a keyframe: the encoder's new keyframe comes at 40.
                v.push_buffer(f).unwrap();
            }
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let parts: Vec<mp4::Mp4> = run
        .output
        .segments()
        .iter()
        .map(|b| mp4::parse(b))
        .collect();
    assert_eq!(parts.len(), 2, "one new init segment");
    let (old, new) = (&parts[0], &parts[1]);
    let (mp4_atom::Codec::Avc1(a), mp4_atom::Codec::Avc1(b)) = (old.codec(1), new.codec(1)) else {
        panic!("avc1 in both");
    };
    assert_eq!((a.visual.width, b.visual.width), (320, 640));
    assert_eq!(b.avcc.avc_profile_indication, 0x4d);
    // The audio track keeps its ID and entry.
    assert_eq!(old.codec(2), new.codec(2));
    // Video: frames 35..40 (deltas under the new caps, before its keyframe) are the only loss.
    let video = all_samples(&parts, 1);
    let want: Vec<u32> = (0..35).chain(40..80).collect();
    assert_eq!(
        video
            .iter()
            .map(|(_, s)| synth::tag(&s.data))
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(run.stats.get::<u64>("dropped-before-keyframe").unwrap(), 5);
    assert!(
        video
            .iter()
            .all(|(part, s)| (*part == 0) == (synth::tag(&s.data) < 35))
    );
    assert!(new.samples[&1][0].is_sync());
    // Audio: every frame exactly once.
    assert_eq!(
        tags(
            &all_samples(&parts, 2)
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
        ),
        input_tags(&run.inputs[1])
    );
    // Sequence numbers and tfdt continue across the new init.
    let seqs: Vec<u32> = parts
        .iter()
        .flat_map(|p| p.chunks.iter().map(|c| c.sequence))
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
    for track in [1, 2] {
        let last_old = old.samples[&track].last().unwrap();
        let first_new = &new.samples[&track][0];
        assert_eq!(
            first_new.dts,
            last_old.dts + u64::from(last_old.duration),
            "track {track} tfdt continues"
        );
    }
    let caps = run.output.caps.as_ref().unwrap().structure(0).unwrap();
    let header = caps.get::<gst::Array>("streamheader").unwrap();
    let init = header.first().unwrap().get::<gst::Buffer>().unwrap();
    let map = init.map_readable().unwrap();
    assert_eq!(
        &run.output.segments()[1][..map.len()],
        map.as_slice(),
        "streamheader updated"
    );
}

#[test]
fn audio_caps_change_opens_the_next_fragment() {
    let run = pipeline::run_with(
        &launch(),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&v, synth::video_frames(0..100, (25, 1), 25));
            // 48 kHz for 1.5 s, then 44.1 kHz mono.
            synth::push(&a, synth::audio_frames(0..70, 0));
            a.set_caps(Some(&synth::aac_caps_with(44100, 1, &synth::ASC_44K_MONO)));
            let start = 70 * 1024 * SEC / 48000;
            let frames: Vec<gst::Buffer> = (0..100u64)
                .map(|i| {
                    let t = start + i * 1024 * SEC / 44100;
                    synth::buffer(2_000_000 + i as u32, 30, Some(t), None, true)
                })
                .collect();
            synth::push(&a, frames);
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let parts: Vec<mp4::Mp4> = run
        .output
        .segments()
        .iter()
        .map(|b| mp4::parse(b))
        .collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].timescale(2), 48000);
    assert_eq!(parts[1].timescale(2), 44100);
    let mp4_atom::Codec::Mp4a(m) = parts[1].codec(2) else {
        panic!("mp4a")
    };
    assert_eq!(m.audio.channel_count, 1);
    // Nothing lost on either track.
    assert_eq!(
        tags(
            &all_samples(&parts, 1)
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
        ),
        input_tags(&run.inputs[0])
    );
    let audio = all_samples(&parts, 2);
    assert_eq!(
        tags(&audio.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>()),
        input_tags(&run.inputs[1])
    );
    // The change (at 1.49 s) ends the fragment at the next keyframe (2 s), all of the new
    // audio is after the new init and all of the old before it.
    assert!(
        audio
            .iter()
            .all(|(part, s)| (*part == 1) == (synth::tag(&s.data) >= 2_000_000))
    );
    assert_eq!(parts[0].samples[&1].len(), 50);
    // The new audio's tfdt is its running time in the new timescale.
    let first = &parts[1].samples[&2][0];
    assert_eq!(first.dts, (70 * 1024 * SEC / 48000 * 44100 + SEC / 2) / SEC);
}

#[test]
fn caps_that_change_nothing_in_the_init_emit_no_new_one() {
    let run = pipeline::run_with(
        &launch(),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&v, synth::video_frames(0..30, (25, 1), 10));
            let mut caps = synth::h264_caps((25, 1), Some(&synth::AVCC));
            caps.get_mut()
                .unwrap()
                .structure_mut(0)
                .unwrap()
                .set("level", "3");
            v.set_caps(Some(&caps));
            synth::push(&v, synth::video_frames(30..60, (25, 1), 10));
            synth::push(&a, synth::audio_frames(0..110, 0));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    assert_eq!(run.output.segments().len(), 1);
    let mp4 = mp4::parse(&run.output.bytes);
    assert_eq!(mp4.samples[&1].len(), 60);
}

#[test]
fn avc3_parameter_set_changes_stay_in_band() {
    let avc3 = |cd: &[u8]| {
        let mut c = synth::h264_caps((25, 1), Some(cd));
        c.get_mut()
            .unwrap()
            .structure_mut(0)
            .unwrap()
            .set("stream-format", "avc3");
        c
    };
    let run = pipeline::run_with(
        "appsrc name=v format=time ! mux.video_0 fragmp4mux name=mux fragment-duration=1000000000 ! appsink name=sink",
        |p| synth::appsrc(p, "v").set_caps(Some(&avc3(&synth::AVCC))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..30, (25, 1), 10));
            v.set_caps(Some(&avc3(&synth::AVCC_MAIN)));
            synth::push(&v, synth::video_frames(30..60, (25, 1), 10));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    assert_eq!(run.output.segments().len(), 1, "no new init for avc3");
    let mp4 = mp4::parse(&run.output.bytes);
    assert!(matches!(mp4.codec(1), mp4_atom::Codec::Avc3(_)));
    assert_eq!(tags(&mp4.samples[&1]), (0..60).collect::<Vec<u32>>());
}
