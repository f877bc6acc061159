//! Progressive mode (`moov` first): judged by mp4-atom, qtdemux, ffmpeg and against
//! GStreamer's own `mp4mux faststart=true`.

mod support;

use gst::prelude::*;
use std::process::Command;
use support::{check, judges, pipeline, progressive};

fn h264_aac() -> String {
    "videotestsrc num-buffers=150 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
     ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! mux.video_0 \
     audiotestsrc num-buffers=235 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0"
        .to_string()
}

fn mux() -> &'static str {
    "fragmp4mux name=mux mode=progressive interleave-time=250000000 ! appsink name=sink"
}

/// Every input sample with its bytes, sync flag and timing, in a `moov`-first file.
fn check_progressive(inputs: &[pipeline::Input], bytes: &[u8]) -> progressive::Progressive {
    let p = progressive::parse(bytes);
    assert_eq!(
        p.top_level,
        vec!["ftyp", "moov", "mdat"],
        "moov before mdat"
    );
    assert!(p.moov.mvex.is_none());
    let origin = check::origin(inputs);
    for (i, input) in inputs.iter().enumerate() {
        let id = i as u32 + 1;
        let ts = p.timescale(id);
        let want = check::expected(input);
        let got = &p.samples[&id];
        assert_eq!(got.len(), want.len(), "{}: every sample once", input.pad);
        let first = check::ticks(want[0].decode_time() - origin, ts);
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g.data == w.data, "{} sample {n}: bytes", input.pad);
            assert_eq!(g.is_sync(), w.keyframe, "{} sample {n}: sync", input.pad);
            assert_eq!(
                g.dts as i64,
                check::ticks(w.decode_time() - origin, ts) - first,
                "{} sample {n}: DTS",
                input.pad
            );
            assert_eq!(
                g.pts,
                check::ticks(w.presentation_time() - origin, ts) - first,
                "{} sample {n}: PTS",
                input.pad
            );
            assert!(g.duration > 0);
        }
        // The edit list starts the presentation at the first shown sample.
        let elst = p
            .trak(id)
            .edts
            .as_ref()
            .and_then(|e| e.elst.as_ref())
            .expect("edit list");
        let earliest = got.iter().map(|s| s.pts).min().unwrap();
        let media = elst.entries.last().unwrap();
        assert_eq!(media.media_time, Some(earliest as u64));
    }
    p
}

#[test]
fn h264_bframes_and_aac_moov_first() {
    let (inputs, output) = pipeline::run(&format!("{} {}", mux(), h264_aac()));
    let caps = output.structure();
    assert_eq!(caps.get::<&str>("variant").unwrap(), "iso");
    let p = check_progressive(&inputs, &output.bytes);
    // Runs of about 250 ms interleave the tracks.
    let ts = f64::from(p.timescale(1));
    let video = &p.samples[&1];
    let runs = video.last().unwrap().chunk + 1;
    assert!(runs >= 15, "{runs} video runs in 5 s");
    for run in 0..runs {
        let span: u64 = video
            .iter()
            .filter(|s| s.chunk == run)
            .map(|s| u64::from(s.duration))
            .sum();
        assert!(
            span as f64 / ts <= 0.35,
            "run {run} lasts {} s",
            span as f64 / ts
        );
    }
    let path = pipeline::temp_file("progressive.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
    let counts = judges::ffprobe_frame_counts(&path);
    assert_eq!(
        counts,
        vec![
            ("video".to_string(), 150),
            (
                "audio".to_string(),
                check::expected(&inputs[1]).len() as u64
            )
        ]
    );
    let decoded = judges::qtdemux_decode(&path, &["video_0", "audio_0"]);
    assert_eq!(decoded[0].frames, 150);
    // Both tracks present from 0 after the edit lists, as their first PTS did at input.
    assert_eq!(decoded[0].first_pts, Some(gst::ClockTime::ZERO));
    assert_eq!(decoded[1].first_pts, Some(gst::ClockTime::ZERO));
}

#[test]
fn h265_and_aac_and_video_only() {
    let launch = format!(
        "{} videotestsrc num-buffers=50 ! video/x-raw,format=I420,width=192,height=128,framerate=25/1 \
         ! x265enc speed-preset=ultrafast key-int-max=10 ! h265parse ! video/x-h265,stream-format=hvc1 ! mux.video_0 \
         audiotestsrc num-buffers=90 ! audio/x-raw,rate=44100,channels=1 ! voaacenc ! aacparse ! mux.audio_0",
        mux()
    );
    let (inputs, output) = pipeline::run(&launch);
    check_progressive(&inputs, &output.bytes);
    let path = pipeline::temp_file("progressive-h265.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
    assert_eq!(judges::qtdemux_decode(&path, &["video_0"])[0].frames, 50);

    let launch = format!(
        "{} videotestsrc num-buffers=40 ! video/x-raw,format=I420,width=160,height=120 ! x264enc key-int-max=10 ! h264parse ! mux.video_0",
        mux()
    );
    let (inputs, output) = pipeline::run(&launch);
    let p = check_progressive(&inputs, &output.bytes);
    assert_eq!(p.moov.trak.len(), 1);
}

fn write_file(launch_tail: &str, name: &str) -> std::path::PathBuf {
    let (_, output) = pipeline::run(&format!("{} {}", mux(), launch_tail));
    pipeline::temp_file(name, &output.bytes)
}

#[test]
fn seeking_into_the_middle_lands_on_a_keyframe() {
    let path = write_file(&h264_aac(), "progressive-seek.mp4");
    support::init();
    let p = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! appsink name=s sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = p
        .by_name("s")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    p.set_state(gst::State::Paused).unwrap();
    p.state(gst::ClockTime::from_seconds(10)).0.unwrap();
    p.seek_simple(
        gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
        gst::ClockTime::from_mseconds(2500),
    )
    .unwrap();
    p.state(gst::ClockTime::from_seconds(10)).0.unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    let mut first = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        let pts = sample.buffer().unwrap().pts().unwrap();
        let segment = sample
            .segment()
            .unwrap()
            .downcast_ref::<gst::ClockTime>()
            .unwrap()
            .clone();
        first.get_or_insert(segment.to_stream_time(pts).unwrap());
        frames += 1;
    }
    p.set_state(gst::State::Null).unwrap();
    // Keyframes every second: the seek to 2.5 s starts decoding at 2 s.
    let first = first.expect("frames after the seek");
    let segment_start = first.mseconds();
    assert!(
        (1990..=2010).contains(&segment_start),
        "first frame at {segment_start} ms"
    );
    assert!(
        (89..=91).contains(&frames),
        "{frames} frames decoded after the seek"
    );

    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-read_intervals",
            "2.5%+1",
            "-select_streams",
            "v",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        times.len() >= 25,
        "ffprobe decodes from the middle: {times:?}"
    );
    assert!(times[0] <= 2.5 && times[0] >= 1.9);
}

#[test]
fn same_timing_table_as_mp4mux_faststart() {
    support::init();
    let dir = std::env::temp_dir().join(format!("fragmp4-cmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("ours.mp4");
    let theirs = dir.join("mp4mux.mp4");
    let launch = format!(
        "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! tee name=vt \
         audiotestsrc num-buffers=140 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! tee name=at \
         fragmp4mux name=a mode=progressive ! filesink location={} \
         mp4mux name=b faststart=true ! filesink location={} \
         vt. ! {q} ! a.video_0 at. ! {q} ! a.audio_0 vt. ! {q} ! b.video_0 at. ! {q} ! b.audio_0",
        ours.display(),
        theirs.display(),
        q = "queue max-size-time=0 max-size-buffers=0 max-size-bytes=0",
    );
    pipeline::run_to_eos(&launch, 60);
    let table = |path: &std::path::Path, stream: &str| -> Vec<(String, String, String)> {
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                stream,
                "-show_entries",
                "packet=pts_time,dts_time,size",
                "-of",
                "csv=p=0",
            ])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string(), f[2].to_string())
            })
            .collect()
    };
    for stream in ["v", "a"] {
        let (a, b) = (table(&ours, stream), table(&theirs, stream));
        assert!(!a.is_empty());
        assert_eq!(
            a, b,
            "stream {stream}: same pts, dts and sizes as mp4mux faststart=true"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unwritable_temp_location_is_an_element_error() {
    let run = pipeline::run_with(
        "videotestsrc num-buffers=20 ! video/x-raw,format=I420,width=160,height=120 ! x264enc ! h264parse ! \
         fragmp4mux name=mux mode=progressive temp-location=/nonexistent/dir ! appsink name=sink",
        |_| {},
        |_, _| {},
    );
    let err = run.error.expect("element error");
    assert!(
        err.contains("temporary file") && err.contains("/nonexistent/dir"),
        "{err}"
    );
    assert!(run.output.bytes.is_empty(), "no truncated file");
}

#[test]
fn opus_pre_skip_is_trimmed_by_the_edit_list_in_progressive_output() {
    let (inputs, output) = pipeline::run(&format!(
        "{} audiotestsrc num-buffers=50 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! mux.audio_0",
        mux()
    ));
    let p = progressive::parse(&output.bytes);
    let mp4_atom::Codec::Opus(o) = &p.trak(1).mdia.minf.stbl.stsd.codecs[0] else {
        panic!("Opus expected")
    };
    let pre_skip = o.dops.pre_skip;
    assert!(pre_skip > 0, "opusenc signals a pre-skip");
    let elst = p
        .trak(1)
        .edts
        .as_ref()
        .and_then(|e| e.elst.as_ref())
        .unwrap();
    assert_eq!(
        elst.entries.last().unwrap().media_time,
        Some(u64::from(pre_skip)),
        "media_time skips the pre-skip"
    );
    assert_eq!(p.samples[&1].len(), check::expected(&inputs[0]).len());
    let path = pipeline::temp_file("opus-progressive.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
}

#[test]
fn audio_clipping_meta_is_trimmed_by_the_edit_list_in_progressive_output() {
    use support::synth;
    let run = pipeline::run_with(
        &format!("appsrc name=a format=time ! mux.audio_0 {}", mux()),
        |p| synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps())),
        |p, _| {
            let a = synth::appsrc(p, "a");
            let mut frames = synth::audio_frames(0..40, 0);
            // The encoder says: the first 2112 samples are its delay (what AAC encoders prime).
            gst_audio::AudioClippingMeta::add(
                frames[0].make_mut(),
                gst::format::Default::from_u64(2112),
                gst::format::Default::from_u64(0),
            );
            synth::push(&a, frames);
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let p = progressive::parse(&run.output.bytes);
    let elst = p
        .trak(1)
        .edts
        .as_ref()
        .and_then(|e| e.elst.as_ref())
        .expect("an edit list");
    assert_eq!(
        elst.entries.last().unwrap().media_time,
        Some(2112),
        "media_time skips the clipped start"
    );
    assert_eq!(p.samples[&1].len(), 40, "no sample is dropped");
}
