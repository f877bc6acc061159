//! chunk-duration (DESIGN.md C2): fragments written as several moof+mdat chunks.

mod support;

use support::{check, judges, mp4, pipeline, synth};

fn run(chunk: u64) -> pipeline::Run {
    pipeline::run_with(
        &format!(
            "appsrc name=v format=time ! mux.video_0 appsrc name=a format=time ! mux.audio_0 \
             fragmp4mux name=mux fragment-duration=1000000000 chunk-duration={chunk} ! appsink name=sink"
        ),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&a, synth::audio_frames(0..190, 0));
            synth::push(&v, synth::video_frames(0..120, (30, 1), 30));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    )
}

/// Which chunks open a fragment, from the first buffer of each pushed list.
fn fragment_starts(output: &pipeline::Output) -> Vec<bool> {
    output.pushes[1..]
        .iter()
        .map(|p| !p[0].flags.contains(gst::BufferFlags::DELTA_UNIT))
        .collect()
}

fn sample_table(m: &mp4::Mp4) -> Vec<(u32, u64, i64, u32, bool, Vec<u8>)> {
    m.samples
        .iter()
        .flat_map(|(id, s)| {
            s.iter()
                .map(move |s| (*id, s.dts, s.pts, s.duration, s.is_sync(), s.data.clone()))
        })
        .collect()
}

#[test]
fn chunked_output_has_the_same_samples_and_fragment_boundaries() {
    let whole = run(0);
    let chunked = run(250_000_000);
    assert_eq!(chunked.error, None);
    let (w, c) = (
        mp4::parse(&whole.output.bytes),
        mp4::parse(&chunked.output.bytes),
    );
    check::check_init(&chunked.inputs, &c);
    check::check_samples(&chunked.inputs, &c);
    let starts = fragment_starts(&chunked.output);
    check::check_chunks_with(&c, 1, |k| starts[k]);
    assert_eq!(
        sample_table(&c),
        sample_table(&w),
        "the same samples as without chunks"
    );
    // Fragments start where the unchunked ones do: at the same video samples.
    let first_of = |m: &mp4::Mp4, chunk_ok: &dyn Fn(usize) -> bool| -> Vec<u64> {
        let mut out = vec![];
        for (n, s) in m.samples[&1].iter().enumerate() {
            if (n == 0 || m.samples[&1][n - 1].chunk != s.chunk) && chunk_ok(s.chunk) {
                out.push(s.dts);
            }
        }
        out
    };
    assert_eq!(first_of(&c, &|k| starts[k]), first_of(&w, &|_| true));
    assert!(
        c.chunks.len() >= 3 * w.chunks.len(),
        "{} chunks, {} fragments",
        c.chunks.len(),
        w.chunks.len()
    );
    // About 250 ms per chunk: at most 8 frames of 33 ms.
    for k in 0..c.chunks.len() {
        let frames = c.samples[&1].iter().filter(|s| s.chunk == k).count();
        assert!(frames <= 8, "chunk {k}: {frames} frames");
    }
    // The messages report every chunk, keyframe-start only on fragment starts.
    let flags: Vec<bool> = chunked
        .output
        .messages
        .iter()
        .map(|m| m.get::<bool>("keyframe-start").unwrap())
        .collect();
    assert_eq!(flags, starts);
}

#[test]
fn a_chunk_shorter_than_a_frame_carries_one_sample() {
    let run = run(1);
    assert_eq!(run.error, None);
    let c = mp4::parse(&run.output.bytes);
    check::check_samples(&run.inputs, &c);
    let starts = fragment_starts(&run.output);
    check::check_chunks_with(&c, 1, |k| starts[k]);
    for k in 0..c.chunks.len() {
        assert!(c.samples[&1].iter().filter(|s| s.chunk == k).count() <= 1);
    }
    // Fragments with video start at the 4 keyframes (audio outlasting the video forms
    // audio-only fragments after them).
    let video_starts = (0..c.chunks.len())
        .filter(|&k| starts[k] && c.samples[&1].iter().any(|s| s.chunk == k))
        .count();
    assert_eq!(video_starts, 4, "120 frames, a keyframe every 30");
}

#[test]
fn chunked_encoder_output_decodes() {
    let (inputs, output) = pipeline::run(
        "videotestsrc num-buffers=60 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=100 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=500000000 chunk-duration=100000000 ! appsink name=sink",
    );
    let c = mp4::parse(&output.bytes);
    check::check_samples(&inputs, &c);
    let starts = fragment_starts(&output);
    check::check_chunks_with(&c, 1, |k| starts[k]);
    let path = pipeline::temp_file("chunked.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
    assert_eq!(judges::qtdemux_decode(&path, &["video_0"])[0].frames, 60);
}

/// The messages tell where each chunk starts on the presentation timeline (its video's
/// earliest PTS, B-frames included) and where the presentation written so far ends
/// (DESIGN.md T4), as the chunks read back say.
#[test]
fn messages_tell_each_chunks_presentation_start_and_the_end() {
    let (_, output) = pipeline::run(
        "videotestsrc num-buffers=60 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=100 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=500000000 chunk-duration=100000000 ! appsink name=sink",
    );
    let c = mp4::parse(&output.bytes);
    assert_eq!(output.messages.len(), c.chunks.len());
    let ns = |id: u32, ticks: i64| ticks as i128 * 1_000_000_000 / i128::from(c.timescale(id));
    let time = |m: &gst::Structure, field: &str| {
        i128::from(m.get::<gst::ClockTime>(field).unwrap().nseconds())
    };
    // In ns from the origin: the earliest PTS of the chunk's video, else its audio.
    let start_of = |k: usize| {
        [1, 2]
            .iter()
            .find_map(|&id| {
                c.samples[&id]
                    .iter()
                    .filter(|s| s.chunk == k)
                    .map(|s| ns(id, s.pts))
                    .min()
            })
            .unwrap()
    };
    let base = time(&output.messages[0], "earliest-presentation-time") - start_of(0);
    let mut end = i128::MIN;
    for (k, m) in output.messages.iter().enumerate() {
        let reported = time(m, "earliest-presentation-time") - base;
        assert!(
            (reported - start_of(k)).abs() <= 1,
            "chunk {k}: earliest presentation time {reported} ns, the chunk's {} ns",
            start_of(k)
        );
        for id in [1, 2] {
            for s in c.samples[&id].iter().filter(|s| s.chunk == k) {
                end = end.max(ns(id, s.pts + i64::from(s.duration)));
            }
        }
        let reported = time(m, "presentation-end") - base;
        assert!(
            (reported - end).abs() <= 1,
            "after chunk {k}: presentation end {reported} ns, written so far {end} ns"
        );
    }
    // B-frames: some chunk starts with a frame that is not its earliest in presentation.
    assert!(
        (0..c.chunks.len()).any(|k| {
            let first = c.samples[&1].iter().find(|s| s.chunk == k);
            first.is_some_and(|f| ns(1, f.pts) != start_of(k))
        }),
        "the stream has reordered frames"
    );
}
