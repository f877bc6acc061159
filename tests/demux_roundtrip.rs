//! `fragmp4mux ! fragmp4demux`: every sample comes back with its bytes, timestamps and
//! flags, for every codec and fragmented mode of the muxer, whatever the input buffer
//! boundaries; the demuxed caps decode.

mod support;

use support::demux::{Demuxed, decode, demux, demux_file, demux_pipe};
use support::pipeline::{self, Input};
use support::{check, mp4};

/// Compares what the demuxer pushed with what entered the muxer: same samples, bytes
/// (AV1 without its temporal delimiter), keyframe flags, and timestamps equal to the
/// muxer's ticks (running time − origin, DESIGN.md T1) converted back to nanoseconds.
/// `offset` is the muxer's `decode-time-offset` in ns.
fn check_round_trip(inputs: &[Input], muxed: &[u8], demuxed: &Demuxed, offset: i64) {
    assert_eq!(demuxed.error, None);
    let file = mp4::parse(muxed);
    let origin = check::origin(inputs);
    for (i, input) in inputs.iter().enumerate() {
        let ts = file.timescale(i as u32 + 1);
        let want = check::expected(input);
        let pad = demuxed.pad(&input.pad);
        assert_eq!(pad.buffers.len(), want.len(), "{}: sample count", input.pad);
        let is_av1 = input
            .caps
            .as_ref()
            .is_some_and(|c| c.structure(0).unwrap().name() == "video/x-av1");
        // With a decode-time offset, audio is snapped to its frame grid (T3): one
        // shift of at most half a frame for the whole track.
        let snap = match (offset, want.first(), pad.buffers.first()) {
            (1.., Some(w), Some(g)) if input.pad.starts_with("audio") => {
                let t = check::ticks(w.decode_time() - origin + offset, ts);
                let snap = check::ticks(g.dts.unwrap().nseconds() as i64, ts) - t;
                assert!(snap.abs() <= 512, "T3 shift {snap} ticks");
                snap
            }
            _ => 0,
        };
        let back = |ns: i64| {
            let t = check::ticks(ns - origin + offset, ts) + snap;
            gst::ClockTime::from_nseconds((t as u128 * 1_000_000_000 / ts as u128) as u64)
        };
        for (n, (g, w)) in pad.buffers.iter().zip(&want).enumerate() {
            let data = if is_av1 { &w.data[2..] } else { &w.data[..] };
            assert!(g.data == data, "{} sample {n}: bytes", input.pad);
            assert_eq!(g.delta, !w.keyframe, "{} sample {n}: keyframe", input.pad);
            assert_eq!(
                g.dts,
                Some(back(w.decode_time())),
                "{} sample {n}: DTS",
                input.pad
            );
            assert_eq!(
                g.pts,
                Some(back(w.presentation_time())),
                "{} sample {n}: PTS",
                input.pad
            );
            let exact = (w.presentation_time() - origin + offset) as u64;
            let pts = g.pts.unwrap().nseconds();
            let tick = 1_000_000_000 / u64::from(ts) + 1;
            assert!(
                pts.abs_diff(exact) < tick * (1 + snap.unsigned_abs()),
                "{} sample {n}: PTS within a tick of the input",
                input.pad
            );
            assert!(g.duration.is_some_and(|d| d > gst::ClockTime::ZERO));
        }
    }
}

/// Muxes `launch`, demuxes the result whole and in 4 KiB pieces, checks both, and
/// decodes the demuxed pads. Returns the muxed bytes and the whole-buffer demux.
fn round_trip(launch: &str, pads: &[&str]) -> (Vec<u8>, Demuxed) {
    let (inputs, output) = pipeline::run(launch);
    let offset = launch
        .split_whitespace()
        .find_map(|w| w.strip_prefix("decode-time-offset="))
        .map_or(0, |v| v.parse::<i64>().unwrap());
    let whole = demux(&output.bytes, output.bytes.len(), "");
    check_round_trip(&inputs, &output.bytes, &whole, offset);
    let pieces = demux(&output.bytes, 4096, "");
    assert_eq!(pieces.pads, whole.pads, "4 KiB pieces give the same result");
    // Tests run in parallel: each file its own name.
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = pipeline::temp_file(&format!("roundtrip-{n}.mp4"), &output.bytes);
    let pulled = demux_file(&path, "");
    assert_eq!(
        pulled.pads, whole.pads,
        "pull mode (filesrc) gives the same result"
    );
    let piped = demux_pipe(&output.bytes, "");
    assert_eq!(
        piped.pads, whole.pads,
        "a pipe (fdsrc) gives the same result"
    );
    let decoded = decode(&path, pads);
    for (pad, frames) in pads.iter().zip(&decoded) {
        assert!(*frames > 0, "{pad}: decodes after fragmp4demux");
    }
    let video = pads
        .iter()
        .position(|p| p.starts_with("video"))
        .map(|i| decoded[i]);
    if let Some(frames) = video {
        assert_eq!(frames as usize, whole.pad("video_0").buffers.len());
    }
    (output.bytes, whole)
}

const H264_AAC: &str = "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
     ! x264enc bframes=2 key-int-max=20 speed-preset=ultrafast ! h264parse ! mux.video_0 \
     audiotestsrc num-buffers=120 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0";

#[test]
fn h264_aac_in_every_fragmented_mode() {
    for props in [
        "fragment-duration=500000000",
        "fragment-duration=1000000000 chunk-duration=200000000",
        "fragment-duration=500000000 separate-moof=true",
        "fragment-duration=500000000 cmaf=true decode-time-offset=90000000000",
    ] {
        let (bytes, demuxed) = round_trip(
            &format!("{H264_AAC} fragmp4mux name=mux {props} ! appsink name=sink"),
            &["video_0", "audio_0"],
        );
        // Statistics: fragments and keyframes as the file has them.
        let file = mp4::parse(&bytes);
        let video = demuxed.track_stats("video_0");
        let keyframes = file.samples[&1].iter().filter(|s| s.is_sync()).count() as u64;
        assert_eq!(video.get::<u64>("keyframes").unwrap(), keyframes, "{props}");
        assert_eq!(
            video.get::<u64>("samples").unwrap(),
            file.samples[&1].len() as u64
        );
        let moofs_with_video = file
            .chunks
            .iter()
            .filter(|c| c.trafs.iter().any(|t| t.track_id == 1 && t.samples > 0))
            .count() as u64;
        assert_eq!(
            video.get::<u64>("fragments").unwrap(),
            moofs_with_video,
            "{props}"
        );
        assert!(video.get::<u64>("bitrate").unwrap() > 0);
        // One message per moof, with its sequence number and the tracks it held.
        let sequences: Vec<u32> = demuxed
            .fragments
            .iter()
            .map(|m| m.get::<u32>("sequence-number").unwrap())
            .collect();
        let want: Vec<u32> = file.chunks.iter().map(|c| c.sequence).collect();
        assert_eq!(sequences, want, "{props}");
        for (m, c) in demuxed.fragments.iter().zip(&file.chunks) {
            let tracks = m.get::<gst::Array>("tracks").unwrap();
            let with_samples = c.trafs.iter().filter(|t| t.samples > 0).count();
            assert_eq!(tracks.len(), with_samples, "{props}");
        }
        let span = video.get::<u64>("max-span").unwrap();
        assert!(span > 0 && span <= 1_100_000_000, "{props}: span {span}");
    }
}

#[test]
fn h265_aac() {
    round_trip(
        "videotestsrc num-buffers=40 ! video/x-raw,width=160,height=128,framerate=25/1 \
         ! x265enc speed-preset=ultrafast key-int-max=10 ! h265parse ! mux.video_0 \
         audiotestsrc num-buffers=60 ! audio/x-raw,rate=44100,channels=1 ! voaacenc ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=400000000 ! appsink name=sink",
        &["video_0", "audio_0"],
    );
}

#[test]
fn vp9_opus() {
    round_trip(
        "videotestsrc num-buffers=40 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! vp9enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! vp9parse ! mux.video_0 \
         audiotestsrc num-buffers=60 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
        &["video_0", "audio_0"],
    );
}

#[test]
fn av1_vp8_flac() {
    round_trip(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! av1enc usage-profile=realtime cpu-used=8 keyframe-max-dist=15 ! av1parse \
         ! video/x-av1,stream-format=obu-stream,alignment=tu ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
        &["video_0"],
    );
    round_trip(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! mux.video_0 \
         audiotestsrc num-buffers=40 ! audio/x-raw,format=S16LE,rate=44100,channels=2 ! flacenc ! flacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
        &["video_0", "audio_0"],
    );
}

#[test]
fn one_byte_at_a_time_gives_the_same_result() {
    let (_, output) = pipeline::run(
        "videotestsrc num-buffers=12 ! video/x-raw,width=64,height=64,framerate=30/1 \
         ! x264enc bframes=1 key-int-max=6 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=10 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=100000000 ! appsink name=sink",
    );
    let whole = demux(&output.bytes, output.bytes.len(), "");
    assert_eq!(whole.error, None);
    assert_eq!(whole.pad("video_0").buffers.len(), 12);
    let bytewise = demux(&output.bytes, 1, "");
    assert_eq!(bytewise.error, None);
    assert_eq!(bytewise.pads, whole.pads);
}

#[test]
fn a_second_init_segment_updates_the_caps() {
    let part = |size: &str| {
        pipeline::run(&format!(
            "videotestsrc num-buffers=10 ! video/x-raw,{size},framerate=30/1 \
             ! x264enc speed-preset=ultrafast key-int-max=5 ! h264parse ! mux.video_0 \
             fragmp4mux name=mux fragment-duration=100000000 ! appsink name=sink"
        ))
        .1
        .bytes
    };
    let mut bytes = part("width=64,height=64");
    bytes.extend(part("width=96,height=80"));
    let d = demux(&bytes, 1000, "");
    assert_eq!(d.error, None);
    assert_eq!(d.pads.len(), 1, "the second moov makes no new pad");
    let pad = d.pad("video_0");
    assert_eq!(pad.buffers.len(), 20);
    let widths: Vec<i32> = pad
        .caps
        .iter()
        .map(|c| c.structure(0).unwrap().get::<i32>("width").unwrap())
        .collect();
    assert_eq!(widths, [64, 96]);
}

/// A recording into a file (durations patched in, `mfra` index at the end) reads back
/// in pull mode with every sample.
#[test]
fn a_recorded_file_with_its_index() {
    let path = std::env::temp_dir().join(format!("fragmp4-recorded-{}.mp4", std::process::id()));
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=40 ! video/x-raw,width=96,height=64,framerate=30/1 \
             ! x264enc speed-preset=ultrafast key-int-max=10 ! h264parse ! m.video_0 \
             audiotestsrc num-buffers=50 ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse ! m.audio_0 \
             fragmp4mux name=m fragment-duration=300000000 ! filesink location={}",
            path.display()
        ),
        60,
    );
    let file = mp4::parse(&std::fs::read(&path).unwrap());
    assert!(
        file.top_level.iter().any(|b| b == "mfra"),
        "{:?}",
        file.top_level
    );
    let d = demux_file(&path, "");
    assert_eq!(d.error, None);
    assert_eq!(d.pad("video_0").buffers.len(), 40);
    assert_eq!(d.pad("audio_0").buffers.len(), file.samples[&2].len());
    let _ = std::fs::remove_file(path);
}
