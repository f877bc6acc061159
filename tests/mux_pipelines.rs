//! Real encoders -> fragmp4mux, judged by mp4-atom, qtdemux and ffmpeg.

mod support;

use support::{check, judges, pipeline};

const SEC: i64 = 1_000_000_000;

fn h264(extra_caps: &str) -> String {
    format!(
        "videotestsrc num-buffers=90 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=12 speed-preset=ultrafast ! h264parse ! video/x-h264{extra_caps} ! mux.video_0"
    )
}

fn aac(encoder: &str) -> String {
    format!(
        "audiotestsrc num-buffers=140 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! {encoder} ! aacparse ! mux.audio_0"
    )
}

fn mux(fragment_duration: i64) -> String {
    format!("fragmp4mux name=mux fragment-duration={fragment_duration} ! appsink name=sink")
}

/// First presentation times of the decoded streams keep the input's A/V offset (T1).
fn assert_av_offset(inputs: &[pipeline::Input], decoded: &[judges::Decoded]) {
    let input_first = |i: &pipeline::Input| {
        check::expected(i)
            .iter()
            .map(|b| b.presentation_time())
            .min()
            .unwrap()
    };
    let want = input_first(&inputs[0]) - input_first(&inputs[1]);
    let got = decoded[0].first_pts.unwrap().nseconds() as i64
        - decoded[1].first_pts.unwrap().nseconds() as i64;
    // Both are rounded to their track timescale: at most one tick of each apart.
    let tolerance = SEC / 90_000 + SEC / 48_000 + 1;
    assert!(
        (got - want).abs() <= tolerance,
        "A/V offset {got} ns, input {want} ns"
    );
    let origin = check::origin(inputs);
    for (input, d) in inputs.iter().zip(decoded) {
        let first = input_first(input) - origin;
        let pts = d.first_pts.unwrap().nseconds() as i64;
        assert!(
            (pts - first).abs() <= SEC / 48_000 + 1,
            "{}: first PTS {pts}, input running time - origin {first}",
            input.pad
        );
    }
}

fn decode_and_compare(
    name: &str,
    bytes: &[u8],
    inputs: &[pipeline::Input],
    streams: &[&str],
) -> Vec<judges::Decoded> {
    let path = pipeline::temp_file(name, bytes);
    judges::ffmpeg_decodes(&path);
    let counts = judges::ffprobe_frame_counts(&path);
    assert_eq!(counts.len(), inputs.len());
    for ((_, n), input) in counts.iter().zip(inputs) {
        assert_eq!(
            *n as usize,
            check::expected(input).len(),
            "ffprobe reads every frame of {}",
            input.pad
        );
    }
    let decoded = judges::qtdemux_decode(&path, streams);
    for (d, input) in decoded.iter().zip(inputs) {
        if input.pad.starts_with("video") {
            assert_eq!(
                d.frames as usize,
                check::expected(input).len(),
                "qtdemux ! decodebin decodes every video frame"
            );
        } else {
            assert!(
                d.frames as usize + 2 >= check::expected(input).len() && d.frames > 0,
                "qtdemux ! decodebin decodes the audio"
            );
        }
    }
    decoded
}

#[test]
fn h264_with_bframes_and_aac() {
    let launch = format!(
        "{} {} {}",
        mux(SEC),
        h264(",stream-format=avc"),
        aac("avenc_aac")
    );
    let (inputs, output) = pipeline::run(&launch);
    assert_eq!(inputs[0].pad, "video_0");
    assert!(
        inputs[0].buffers.iter().any(|b| b.pts != b.dts),
        "B-frames reorder"
    );
    assert!(
        inputs[0].buffers[0].dts.unwrap() < 0,
        "x264enc starts with a negative DTS running time"
    );
    let mp4 = check::check_all(&inputs, &output, SEC);
    assert!(mp4.chunks.len() >= 3);
    assert!(matches!(mp4.codec(1), mp4_atom::Codec::Avc1(_)));
    assert_eq!(mp4.timescale(1), 90_000);
    // Some composition offsets are non-zero (F4).
    assert!(mp4.samples[&1].iter().any(|s| s.pts != s.dts as i64));
    let decoded = decode_and_compare(
        "h264_aac.mp4",
        &output.bytes,
        &inputs,
        &["video_0", "audio_0"],
    );
    assert_av_offset(&inputs, &decoded);
}

#[test]
fn h265_and_aac() {
    let launch = format!(
        "{} videotestsrc num-buffers=60 pattern=ball ! video/x-raw,format=I420,width=192,height=128,framerate=25/1 \
         ! x265enc speed-preset=ultrafast key-int-max=10 ! h265parse ! video/x-h265,stream-format=hvc1 ! mux.video_0 {}",
        mux(SEC),
        aac("voaacenc")
    );
    let (inputs, output) = pipeline::run(&launch);
    let mp4 = check::check_all(&inputs, &output, SEC);
    assert!(matches!(mp4.codec(1), mp4_atom::Codec::Hvc1(_)));
    let caps = output.codecs();
    assert!(
        caps.starts_with("hvc1.1.6.L") && caps.ends_with(",mp4a.40.2"),
        "{caps}"
    );
    let decoded = decode_and_compare(
        "h265_aac.mp4",
        &output.bytes,
        &inputs,
        &["video_0", "audio_0"],
    );
    assert_av_offset(&inputs, &decoded);
}

#[test]
fn h264_avc3_video_only_ends_with_partial_fragment() {
    let launch = format!("{} {}", mux(SEC), h264(",stream-format=avc3"));
    let (inputs, output) = pipeline::run(&launch);
    let mp4 = check::check_all(&inputs, &output, SEC);
    assert!(matches!(mp4.codec(1), mp4_atom::Codec::Avc3(_)));
    // 90 frames at 30 fps with a keyframe every 12: fragments of 36 frames (1.2 s), the
    // last one partial, written at EOS.
    let per_chunk: Vec<usize> = mp4.chunks.iter().map(|c| c.trafs[0].samples).collect();
    assert_eq!(per_chunk, vec![36, 36, 18]);
    decode_and_compare("avc3.mp4", &output.bytes, &inputs, &["video_0"]);
}

#[test]
fn audio_only_cuts_on_a_fixed_grid() {
    let launch = format!("{} {}", mux(SEC / 2), aac("avenc_aac"));
    let (inputs, output) = pipeline::run(&launch);
    let mp4 = check::check_all(&inputs, &output, SEC / 2);
    // Fragment k ends before the first frame at or after (k + 1) * 0.5 s from the origin.
    let origin = check::origin(&inputs);
    let want = check::expected(&inputs[0]);
    let mut n = 0;
    for (k, c) in mp4.chunks.iter().enumerate().take(mp4.chunks.len() - 1) {
        n += c.trafs[0].samples;
        let boundary = (k as i64 + 1) * SEC / 2;
        assert!(want[n].presentation_time() - origin >= boundary);
        assert!(want[n - 1].presentation_time() - origin < boundary);
    }
    let caps = output.caps.as_ref().unwrap();
    assert_eq!(
        caps.structure(0).unwrap().get::<&str>("variant").unwrap(),
        "iso-fragmented"
    );
    decode_and_compare("aac.mp4", &output.bytes, &inputs, &["audio_0"]);
}
