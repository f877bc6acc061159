//! Declared durations cover the whole presentation (DESIGN.md T4): with B-frames the last
//! frame is presented after the decode end, and players clip what lies past the declared
//! duration. One encode per case feeds a fragmented, a chunked and a progressive muxer
//! (each into a file, so durations are filled in); qtdemux ! decodebin and ffmpeg must
//! decode every frame that went in, and every declared duration must reach the end of the
//! last presented frame.

mod support;

use gst::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use support::{judges, mp4, pipeline, progressive};

/// What went into the muxers on one track, as signed running times in ns.
#[derive(Debug, Default, Clone)]
struct Track {
    frames: u64,
    first_dts: Option<i64>,
    first_pts: Option<i64>,
    /// Latest PTS + duration.
    end: i64,
    /// Leading samples the encoder marked as not presented (GstAudioClippingMeta), ns.
    clipped: i64,
}

fn signed(v: Option<gst::Signed<gst::ClockTime>>) -> Option<i64> {
    v.map(|v| match v {
        gst::Signed::Positive(t) => t.nseconds() as i64,
        gst::Signed::Negative(t) => -(t.nseconds() as i64),
    })
}

/// Records every buffer leaving `element`'s src pad.
fn watch(pipeline: &gst::Pipeline, element: &str) -> Arc<Mutex<Track>> {
    let track = Arc::new(Mutex::new(Track::default()));
    let rec = track.clone();
    let pad = pipeline
        .by_name(element)
        .and_then(|e| e.static_pad("src"))
        .expect("watched element");
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if let Some(gst::PadProbeData::Buffer(buf)) = &info.data {
            let seg = pad
                .sticky_event::<gst::event::Segment>(0)
                .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned())
                .expect("time segment");
            let pts = signed(buf.pts().and_then(|t| seg.to_running_time_full(t))).expect("pts");
            let dts = signed(buf.dts().and_then(|t| seg.to_running_time_full(t))).unwrap_or(pts);
            let duration = buf.duration().expect("encoders set durations").nseconds() as i64;
            let mut t = rec.lock().unwrap();
            if t.frames == 0
                && let Some(clip) = buf.meta::<gst_audio::AudioClippingMeta>()
                && let gst::GenericFormattedValue::Default(Some(n)) = clip.start()
            {
                t.clipped = (*n as i128 * 1_000_000_000 / 48000) as i64;
            }
            t.frames += 1;
            t.first_dts.get_or_insert(dts);
            t.first_pts = Some(t.first_pts.map_or(pts, |p| p.min(pts)));
            t.end = t.end.max(pts + duration);
        }
        gst::PadProbeReturn::Ok
    });
    track
}

const MODES: [(&str, &str); 3] = [
    ("fragmented", ""),
    ("chunked", "chunk-duration=100000000"),
    ("progressive", "mode=progressive"),
];

/// Encodes `seconds` of video with `encoder` (and AAC when `audio`), muxes it in every
/// mode and returns the inputs and the files.
fn mux(
    name: &str,
    encoder: &str,
    fps: (u32, u32),
    audio: bool,
) -> (Track, Option<Track>, Vec<(&'static str, PathBuf)>) {
    support::init();
    let dir = std::env::temp_dir().join(format!("fragmp4-durations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let frames = 3 * fps.0 / fps.1;
    let mut launch = format!(
        "videotestsrc num-buffers={frames} pattern=ball \
         ! video/x-raw,format=I420,width=160,height=120,framerate={}/{} ! {encoder} \
         ! identity name=vin ! tee name=tv",
        fps.0, fps.1
    );
    if audio {
        launch.push_str(
            " audiotestsrc num-buffers=141 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
             ! avenc_aac ! aacparse ! identity name=ain ! tee name=ta",
        );
    }
    let mut files = Vec::new();
    for (i, (mode, props)) in MODES.iter().enumerate() {
        let path = dir.join(format!("{name}-{mode}.mp4"));
        // async=false: the progressive muxer writes nothing before EOS, so its sink
        // never prerolls.
        launch.push_str(&format!(
            " tv. ! queue ! m{i}.video_0 fragmp4mux name=m{i} fragment-duration=1000000000 {props} \
             ! filesink async=false location={}",
            path.display()
        ));
        if audio {
            launch.push_str(&format!(" ta. ! queue ! m{i}.audio_0"));
        }
        files.push((*mode, path));
    }
    let p = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let video = watch(&p, "vin");
    let sound = audio.then(|| watch(&p, "ain"));
    p.set_state(gst::State::Playing).unwrap();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{name}: {e}"));
    let video = video.lock().unwrap().clone();
    let sound = sound.map(|s| s.lock().unwrap().clone());
    (video, sound, files)
}

/// Ticks of `ns` at `timescale`, rounded down.
fn ticks(ns: i64, timescale: u32) -> u64 {
    (i128::from(ns.max(0)) * i128::from(timescale) / 1_000_000_000) as u64
}

/// `declared` (ticks) reaches `ns` within one tick.
fn covers(what: &str, declared: u64, ns: i64, timescale: u32) {
    let needed = ticks(ns, timescale);
    assert!(
        declared + 1 >= needed,
        "{what}: declared {declared} of 1/{timescale} s, the presentation lasts {needed}"
    );
}

/// Every declared duration of the file reaches the end of the last presented sample.
fn check_declared(mode: &str, path: &Path, tracks: &[&Track]) {
    let bytes = std::fs::read(path).unwrap();
    let end = tracks.iter().map(|t| t.end).max().unwrap();
    if mode == "progressive" {
        // Edit lists start the presentation at the earliest presented instant.
        let start = tracks
            .iter()
            .map(|t| t.first_pts.unwrap() + t.clipped)
            .min()
            .unwrap();
        let file = progressive::parse(&bytes);
        let movie = file.moov.mvhd.timescale;
        covers("mvhd", file.moov.mvhd.duration, end - start, movie);
        for (i, t) in tracks.iter().enumerate() {
            let trak = file.trak(i as u32 + 1);
            covers("tkhd", trak.tkhd.duration, t.end - start, movie);
            let media = trak.mdia.mdhd.timescale;
            covers(
                "mdhd",
                trak.mdia.mdhd.duration,
                t.end - t.first_dts.unwrap(),
                media,
            );
        }
    } else {
        // One origin for all tracks: the earliest DTS (T1).
        let origin = tracks.iter().map(|t| t.first_dts.unwrap()).min().unwrap();
        let file = mp4::parse(&bytes);
        let movie = file.moov.mvhd.timescale;
        covers("mvhd", file.moov.mvhd.duration, end - origin, movie);
        let mehd = file.moov.mvex.as_ref().and_then(|m| m.mehd.as_ref());
        covers(
            "mehd",
            mehd.expect("mehd").fragment_duration,
            end - origin,
            movie,
        );
        for (i, t) in tracks.iter().enumerate() {
            let trak = file.trak(i as u32 + 1);
            covers("tkhd", trak.tkhd.duration, t.end - origin, movie);
            let media = trak.mdia.mdhd.timescale;
            covers("mdhd", trak.mdia.mdhd.duration, t.end - origin, media);
        }
    }
}

/// Muxes one case in every mode and judges each file.
fn case(name: &str, encoder: &str, fps: (u32, u32), audio: bool) {
    let (video, sound, files) = mux(name, encoder, fps, audio);
    let mut tracks = vec![&video];
    let mut streams = vec!["video_0"];
    if let Some(s) = &sound {
        tracks.push(s);
        streams.push("audio_0");
    }
    for (mode, path) in &files {
        let what = format!("{name} {mode}");
        let decoded = judges::qtdemux_decode(path, &streams);
        for (t, d) in tracks.iter().zip(&decoded) {
            assert_eq!(
                d.frames, t.frames,
                "{what}: frames out of qtdemux ! decodebin"
            );
        }
        let counts = judges::ffprobe_frame_counts(path);
        for (t, (kind, n)) in tracks.iter().zip(&counts) {
            assert_eq!(*n, t.frames, "{what}: {kind} frames decoded by ffmpeg");
        }
        judges::ffmpeg_decodes(path);
        check_declared(mode, path, &tracks);
    }
}

/// The frame rates and audio combinations of every encoder.
fn matrix(name: &str, encoder: &str) {
    for (fps, audio) in [
        ((30000, 1001), false),
        ((30000, 1001), true),
        ((25, 1), false),
        ((25, 1), true),
    ] {
        let label = format!(
            "{name}-{}fps{}",
            fps.0 / fps.1,
            if audio { "-aac" } else { "" }
        );
        case(&label, encoder, fps, audio);
    }
}

const X264: &str = "x264enc speed-preset=ultrafast key-int-max=30";

#[test]
fn h264_without_b_frames() {
    matrix("h264-b0", &format!("{X264} bframes=0 ! h264parse"));
}

#[test]
fn h264_with_2_b_frames() {
    matrix("h264-b2", &format!("{X264} bframes=2 ! h264parse"));
}

#[test]
fn h264_with_3_b_frames() {
    matrix("h264-b3", &format!("{X264} bframes=3 ! h264parse"));
}

#[test]
fn h265_with_b_frames() {
    matrix(
        "h265-b3",
        "x265enc speed-preset=ultrafast key-int-max=30 option-string=bframes=3 \
         ! h265parse ! video/x-h265,stream-format=hvc1",
    );
}
