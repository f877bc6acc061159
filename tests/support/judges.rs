//! Independent judges of a written file: ffprobe/ffmpeg and GStreamer's qtdemux.

use gst::prelude::*;
use std::path::Path;
use std::process::Command;

/// `ffmpeg -v error -i file -f null -`: decodes everything; panics on any error output.
pub fn ffmpeg_decodes(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffmpeg: {stderr}"
    );
}

/// Frames per stream as `ffprobe -count_frames` reads them, in stream order.
pub fn ffprobe_frame_counts(path: &Path) -> Vec<(String, u64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (kind, n) = l.split_once(',').expect("type,count");
            (kind.to_string(), n.trim().parse().expect("count"))
        })
        .collect()
}

/// What `qtdemux ! decodebin` made of one stream: decoded frames and the first PTS as
/// stream time (after the edit list).
#[derive(Debug, Default, Clone)]
pub struct Decoded {
    pub frames: u64,
    pub first_pts: Option<gst::ClockTime>,
}

/// Demuxes with qtdemux and decodes each named stream (`video_0`, `audio_0`, ...).
pub fn qtdemux_decode(path: &Path, streams: &[&str]) -> Vec<Decoded> {
    demux_decode(path, "qtdemux", streams)
}

/// Demuxes with `demuxer` and decodes each named src pad with decodebin.
pub fn demux_decode(path: &Path, demuxer: &str, streams: &[&str]) -> Vec<Decoded> {
    super::init();
    let mut desc = format!("filesrc location={} ! {demuxer} name=d", path.display());
    for (i, s) in streams.iter().enumerate() {
        desc.push_str(&format!(
            " d.{s} ! queue ! decodebin ! appsink name=s{i} sync=false"
        ));
    }
    let pipeline = gst::parse::launch(&desc)
        .expect("decode pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let results: Vec<_> = (0..streams.len())
        .map(|i| {
            let sink = pipeline
                .by_name(&format!("s{i}"))
                .unwrap()
                .downcast::<gst_app::AppSink>()
                .unwrap();
            let d = std::sync::Arc::new(std::sync::Mutex::new(Decoded::default()));
            let dd = d.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let mut d = dd.lock().unwrap();
                        d.frames += 1;
                        if d.first_pts.is_none() {
                            // Stream time: what the demuxer's edit-list handling presents.
                            let segment = sample
                                .segment()
                                .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
                            d.first_pts = sample
                                .buffer()
                                .and_then(|b| b.pts())
                                .and_then(|pts| segment.and_then(|s| s.to_stream_time(pts)));
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            d
        })
        .collect();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                let _ = pipeline.set_state(gst::State::Null);
                panic!("{demuxer} decode: {} ({:?})", e.error(), e.debug());
            }
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    results.iter().map(|d| d.lock().unwrap().clone()).collect()
}

/// Runs a check of tests/browser (`play.mjs`, `mse.mjs`, `hls.mjs`) in headless Chromium
/// with `args`; panics unless it exits 0 (its JSON result says ok). Returns that JSON.
pub fn chromium(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let path = format!("{}/tests/browser/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .arg(&path)
        .args(args)
        .output()
        .expect("node runs (scripts/test.sh installs tests/browser)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} {args:?}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Appends a fragmented file to an MSE SourceBuffer of type `video/mp4; codecs="..."`.
pub fn mse_plays(path: &Path, codecs: &str) -> String {
    let mime = format!("video/mp4; codecs=\"{codecs}\"");
    chromium("mse.mjs", &[path.as_os_str(), std::ffi::OsStr::new(&mime)])
}

/// One sample as mp4box.js reads it: (size, DTS, CTS, sync) in track ticks.
pub type Mp4BoxSample = (u32, u64, i64, bool);

/// Parses `path` with mp4box.js (tests/browser/mp4box-samples.mjs): whether it saw a
/// fragmented file, and the samples of each track ID.
pub fn mp4box_samples(path: &Path) -> (bool, std::collections::BTreeMap<u32, Vec<Mp4BoxSample>>) {
    let script = format!(
        "{}/tests/browser/mp4box-samples.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new("node")
        .arg(&script)
        .arg(path)
        .output()
        .expect("node runs (scripts/test.sh installs tests/browser)");
    assert!(
        out.status.success(),
        "mp4box.js: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let fragmented = lines.next() == Some("fragmented true");
    let mut tracks = std::collections::BTreeMap::<u32, Vec<Mp4BoxSample>>::new();
    for l in lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 5, "mp4box line {l:?}");
        tracks.entry(f[0].parse().unwrap()).or_default().push((
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
            f[4] == "1",
        ));
    }
    (fragmented, tracks)
}
