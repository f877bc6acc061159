//! Bad input, live trouble and long runs (issue: hostile and live input): each fault gets
//! an element error or a documented recovery, and nothing before it is lost.

mod support;

use gst::prelude::*;
use support::{check, mp4, pipeline, synth};

const SEC: u64 = 1_000_000_000;

fn video_launch(extra: &str) -> String {
    format!(
        "appsrc name=v format=time ! mux.video_0 fragmp4mux name=mux fragment-duration=1000000000 {extra} ! appsink name=sink"
    )
}

fn av_launch() -> String {
    "appsrc name=v format=time ! mux.video_0 appsrc name=a format=time ! mux.audio_0 \
     fragmp4mux name=mux fragment-duration=1000000000 ! appsink name=sink"
        .to_string()
}

fn h264() -> gst::Caps {
    synth::h264_caps((25, 1), Some(&synth::AVCC))
}

fn tags(samples: &[mp4::Sample]) -> Vec<u32> {
    samples.iter().map(|s| synth::tag(&s.data)).collect()
}

/// Runs video-only input through the muxer: `frames`, then `bad` buffers.
fn video_run(extra: &str, frames: Vec<gst::Buffer>) -> pipeline::Run {
    pipeline::run_with(
        &video_launch(extra),
        |p| synth::appsrc(p, "v").set_caps(Some(&h264())),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, frames);
            v.end_of_stream().unwrap();
        },
    )
}

#[test]
fn byte_stream_h264_is_refused_in_caps() {
    support::init();
    let mux = gst::ElementFactory::make("fragmp4mux").build().unwrap();
    let pad = mux.request_pad_simple("video_%u").unwrap();
    let byte_stream = gst::Caps::builder("video/x-h264")
        .field("stream-format", "byte-stream")
        .field("alignment", "au")
        .field("width", 320i32)
        .field("height", 240i32)
        .build();
    assert!(
        !pad.query_accept_caps(&byte_stream),
        "h264parse must convert"
    );
    let avc = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("width", 320i32)
        .field("height", 240i32)
        .build();
    assert!(pad.query_accept_caps(&avc));
    // And a parser in front does convert: the template lists avc before avc3.
    let (inputs, output) = pipeline::run(
        "videotestsrc num-buffers=10 ! video/x-raw,format=I420,width=160,height=120 ! x264enc ! \
         video/x-h264,stream-format=byte-stream ! h264parse ! fragmp4mux name=mux ! appsink name=sink",
    );
    let s = inputs[0].structure();
    assert_eq!(s.get::<&str>("stream-format").unwrap(), "avc");
    check::check_all(&inputs, &output, 2 * SEC as i64);
}

#[test]
fn invalid_audio_specific_config_is_an_element_error() {
    let run = pipeline::run_with(
        "appsrc name=a format=time ! mux.audio_0 fragmp4mux name=mux ! appsink name=sink",
        // Sampling frequency index 13 is reserved.
        |p| synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps_with(48000, 2, &[0x16, 0x90]))),
        |p, _| {
            let a = synth::appsrc(p, "a");
            synth::push(&a, synth::audio_frames(0..5, 0));
            a.end_of_stream().unwrap();
        },
    );
    let err = run.error.expect("element error");
    assert!(
        err.contains("audio_0") && err.contains("sampling frequency index 13"),
        "{err}"
    );
}

#[test]
fn empty_buffers_are_dropped_and_counted() {
    let mut frames = synth::video_frames(0..40, (25, 1), 10);
    let t = 20 * SEC / 25 + 1;
    let mut empty = gst::Buffer::new();
    empty
        .get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_nseconds(t));
    empty
        .get_mut()
        .unwrap()
        .set_dts(gst::ClockTime::from_nseconds(t));
    frames.insert(21, empty);
    let run = video_run("", frames);
    assert_eq!(run.error, None);
    assert_eq!(run.stats.get::<u64>("dropped-empty").unwrap(), 1);
    let mp4 = mp4::parse(&run.output.bytes);
    assert_eq!(tags(&mp4.samples[&1]), (0..40).collect::<Vec<u32>>());
}

#[test]
fn a_sample_that_is_not_an_access_unit_stops_after_writing_what_came_before() {
    let mut frames = synth::video_frames(0..40, (25, 1), 10);
    // Annex B data under stream-format=avc caps.
    let t = 33 * SEC / 25;
    let mut bad = gst::Buffer::from_slice(vec![0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21]);
    bad.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_nseconds(t));
    bad.get_mut()
        .unwrap()
        .set_dts(gst::ClockTime::from_nseconds(t));
    frames.insert(33, bad);
    let run = video_run("", frames);
    let err = run.error.expect("element error");
    assert!(
        err.contains("video_0") && err.contains("length-prefixed"),
        "{err}"
    );
    let mp4 = mp4::parse(&run.output.bytes);
    assert_eq!(
        tags(&mp4.samples[&1]),
        (0..33).collect::<Vec<u32>>(),
        "every sample before the fault"
    );
    check::check_chunks(&mp4, 1);
}

#[test]
fn a_buffer_without_timestamps_stops_after_writing_what_came_before() {
    let mut frames = synth::video_frames(0..30, (25, 1), 10);
    frames.insert(25, synth::buffer(99, 20, None, None, false));
    let run = video_run("", frames);
    let err = run.error.expect("element error");
    assert!(err.contains("without DTS and PTS"), "{err}");
    let mp4 = mp4::parse(&run.output.bytes);
    assert_eq!(tags(&mp4.samples[&1]), (0..25).collect::<Vec<u32>>());
    check::check_chunks(&mp4, 1);
}

#[test]
fn decode_times_beyond_32_bits_and_sequence_numbers_wrap() {
    // A 1 GHz timescale passes 2^32 ticks after 4.3 s.
    let run = pipeline::run_with(
        "appsrc name=v format=time ! mux.video_0 fragmp4mux name=mux fragment-duration=2000000000 \
         start-fragment-sequence-number=4294967294 ! appsink name=sink",
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&h264()));
            let mux = p.by_name("mux").unwrap();
            mux.static_pad("video_0")
                .unwrap()
                .set_property("timescale", 1_000_000_000u32);
        },
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..200, (25, 1), 25));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all_from(&run.inputs, &run.output, 2 * SEC as i64, u32::MAX - 1);
    assert_eq!(mp4.timescale(1), 1_000_000_000);
    let last = mp4.chunks.last().unwrap();
    assert!(last.trafs[0].tfdt.unwrap() > u64::from(u32::MAX));
    let seqs: Vec<u32> = mp4.chunks.iter().map(|c| c.sequence).collect();
    assert_eq!(seqs, vec![u32::MAX - 1, u32::MAX, 0, 1]);
}

#[test]
fn pads_requested_after_the_init_segment_are_refused() {
    let run = pipeline::run_with(
        &video_launch(""),
        |p| synth::appsrc(p, "v").set_caps(Some(&h264())),
        |p, out| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..35, (25, 1), 10));
            assert!(pipeline::wait_for_pushes(out, 2));
            let mux = p.by_name("mux").unwrap();
            assert!(
                mux.request_pad_simple("audio_%u").is_none(),
                "a track cannot join after the init"
            );
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    assert_eq!(mp4::parse(&run.output.bytes).moov.trak.len(), 1);
}

#[test]
fn a_gap_event_lets_fragments_leave_without_audio() {
    let run = pipeline::run_with(
        &av_launch(),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&h264()));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, out| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&a, synth::audio_frames(0..20, 0));
            let gap_start = 20 * 1024 * SEC / 48000;
            // Audio resumes where the gap says: frame 141, at 3.008 s.
            let gap_end = 141 * 1024 * SEC / 48000;
            let gap = gst::event::Gap::builder(gst::ClockTime::from_nseconds(gap_start))
                .duration(gst::ClockTime::from_nseconds(gap_end - gap_start))
                .build();
            assert!(a.send_event(gap));
            synth::push(&v, synth::video_frames(0..60, (25, 1), 25));
            assert!(
                pipeline::wait_for_pushes(out, 3),
                "fragments leave while audio is in its gap"
            );
            synth::push(&a, synth::audio_frames(141..160, 0));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = mp4::parse(&run.output.bytes);
    assert_eq!(mp4.samples[&2].len(), 39);
    // The last frame before the gap lasts until its end: no hole in the audio timeline.
    check::check_chunks(&mp4, 1);
}

#[test]
fn force_keyframes_keeps_long_gops_to_the_fragment_duration() {
    let launch = |force: bool| {
        format!(
            "videotestsrc num-buffers=60 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
             ! x264enc key-int-max=300 speed-preset=ultrafast ! h264parse \
             ! fragmp4mux name=mux fragment-duration=500000000 force-keyframes={force} ! appsink name=sink"
        )
    };
    let (inputs, output) = pipeline::run(&launch(false));
    let mp4 = check::check_all(&inputs, &output, SEC as i64 / 2);
    assert_eq!(mp4.chunks.len(), 1, "one GOP, one fragment");
    let (inputs, output) = pipeline::run(&launch(true));
    let mp4 = check::check_all(&inputs, &output, SEC as i64 / 2);
    assert!(
        mp4.chunks.len() >= 3,
        "keyframes requested at each boundary: {} fragments",
        mp4.chunks.len()
    );
    for c in &mp4.chunks[..mp4.chunks.len() - 1] {
        let frames = c.trafs[0].samples;
        assert!(
            (15..=17).contains(&frames),
            "fragment of {frames} frames, about 0.5 s"
        );
    }
}

#[test]
fn a_flushing_seek_restarts_with_a_new_init() {
    // A file to seek in, muxed by GStreamer's own mp4mux.
    support::init();
    let path = std::env::temp_dir().join(format!("fragmp4-seek-src-{}.mp4", std::process::id()));
    let src = format!(
        "videotestsrc num-buffers=150 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=15 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
        path.display()
    );
    pipeline::run_to_eos(&src, 30);

    let launch = format!(
        "filesrc location={} ! qtdemux ! h264parse ! fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
        path.display()
    );
    // Preroll (the muxer holds a fragment in progress), then seek with a flush.
    let seek = |p: &gst::Pipeline| {
        p.set_state(gst::State::Paused).unwrap();
        p.state(gst::ClockTime::from_seconds(10)).0.unwrap();
        p.seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
            gst::ClockTime::from_seconds(3),
        )
        .unwrap();
        p.state(gst::ClockTime::from_seconds(10)).0.unwrap();
    };
    let run = pipeline::run_with(&launch, seek, |_, _| {});
    assert_eq!(run.error, None);
    let before_seek = run.inputs[0].buffers.len() - 60;
    assert!(before_seek > 0, "the muxer had data before the flush");
    // What the sink got after the flush is a stream of its own: a new init, sequence
    // numbers from the start, timing from the new segment, all frames from 3 s.
    let segments = run.output.segments();
    assert_eq!(segments.len(), 1);
    let mp4 = mp4::parse(segments[0]);
    check::check_chunks(&mp4, 1);
    let after: Vec<&[u8]> = run.inputs[0].buffers[before_seek..]
        .iter()
        .map(|b| b.data.as_slice())
        .collect();
    let got: Vec<&[u8]> = mp4.samples[&1].iter().map(|s| s.data.as_slice()).collect();
    assert_eq!(got, after);
    assert_eq!(mp4.samples[&1][0].dts, 0);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_pad_that_ends_early_does_not_block_the_others() {
    let run = pipeline::run_with(
        &av_launch(),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&h264()));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, out| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&a, synth::audio_frames(0..40, 0));
            a.end_of_stream().unwrap();
            synth::push(&v, synth::video_frames(0..76, (25, 1), 25));
            // Fragments at 1, 2 and 3 s leave while the video goes on.
            assert!(
                pipeline::wait_for_pushes(out, 4),
                "audio EOS does not hold the video"
            );
            synth::push(&v, synth::video_frames(76..100, (25, 1), 25));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    assert_eq!(mp4.samples[&2].len(), 40);
    assert_eq!(mp4.samples[&1].len(), 100);
}
