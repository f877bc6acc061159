//! fragmp4hlssink segment timing (RFC 8216, DESIGN.md T4), judged over whole runs: every
//! playlist written during a live run is read while it runs and checked by an independent
//! parser (PyPI `m3u8`, tests/hls_playlists.py), and the EXTINF values are compared with
//! the media itself as `mp4-atom` reads it from the segment files.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;
use support::mp4;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "fragmp4-hls-timing-{}-{}",
        std::process::id(),
        name
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sink(d: &Path, props: &str) -> String {
    format!(
        "fragmp4hlssink name=h location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8 {props}",
        d.display()
    )
}

/// Runs `launch` to EOS, keeping every distinct playlist text written meanwhile (polled
/// every 10 ms) as `snapshot-N.m3u8` files; returns their paths in order.
fn run_polling(d: &Path, launch: &str, timeout_s: u64) -> Vec<PathBuf> {
    support::init();
    let p = gst::parse::launch(launch).unwrap_or_else(|e| panic!("{launch}: {e}"));
    let bus = p.bus().unwrap();
    let playlist = d.join("playlist.m3u8");
    let mut last = String::new();
    let mut snapshots = Vec::new();
    let mut snapshot = |last: &mut String| {
        if let Ok(text) = std::fs::read_to_string(&playlist)
            && text != *last
        {
            let path = d.join(format!("snapshot-{:04}.m3u8", snapshots.len()));
            std::fs::write(&path, &text).unwrap();
            snapshots.push(path);
            *last = text;
        }
    };
    p.set_state(gst::State::Playing).unwrap();
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    loop {
        snapshot(&mut last);
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        match msg.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => break,
            Some(gst::MessageView::Error(e)) => {
                p.set_state(gst::State::Null).unwrap();
                panic!("{launch}: {} ({:?})", e.error(), e.debug());
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "{launch}: no EOS in {timeout_s} s"
        );
    }
    // The final playlist (EXT-X-ENDLIST) is written at EOS.
    for _ in 0..100 {
        snapshot(&mut last);
        if last.contains("#EXT-X-ENDLIST") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    p.set_state(gst::State::Null).unwrap();
    snapshots
}

/// What the independent parser made of the snapshots: the fixed target duration and
/// every segment seen (URI, EXTINF), in media sequence order. Panics on any violation it
/// found (target changed, a rounded EXTINF above it, an EXTINF rewritten, no ENDLIST).
fn judge_playlists(snapshots: &[PathBuf]) -> (u32, Vec<(String, f64)>) {
    assert!(!snapshots.is_empty(), "no playlist was written");
    let script = format!("{}/tests/hls_playlists.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&script)
        .args(snapshots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'm3u8'"),
        "PyPI m3u8 is missing: run scripts/install-deps.sh"
    );
    assert!(
        out.status.success(),
        "{} playlist snapshots violate RFC 8216:\n{stdout}{stderr}\nlast one:\n{}",
        snapshots.len(),
        std::fs::read_to_string(snapshots.last().unwrap()).unwrap_or_default()
    );
    let mut target = 0;
    let mut segments = Vec::new();
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["target", t] => target = t.parse().unwrap(),
            ["segment", _, uri, d] => segments.push((uri.to_string(), d.parse().unwrap())),
            _ => panic!("unexpected judge output {line:?}"),
        }
    }
    (target, segments)
}

/// One segment as `mp4-atom` reads it (init + segment): the earliest PTS (s) of the
/// cutting track (the video, else the audio) and the numbers of video and audio samples.
struct SegmentMedia {
    start: f64,
    video: usize,
    audio: usize,
}

/// Reads the segments and checks the EXTINF values against them (DESIGN.md T4): each
/// lasts from its earliest video PTS to the next one's, the last to the presentation end,
/// so they sum to the media duration. Returns the segments' media.
fn check_durations(d: &Path, segments: &[(String, f64)]) -> Vec<SegmentMedia> {
    let init = std::fs::read(d.join("init0.mp4")).unwrap();
    let mut whole = init.clone();
    let mut media = Vec::new();
    for (uri, _) in segments {
        let bytes = std::fs::read(d.join(uri)).unwrap();
        let m = mp4::parse(&[init.clone(), bytes.clone()].concat());
        let track = |id: u32| m.samples.get(&id).map_or(&[][..], |v| v.as_slice());
        let start = |id: u32| {
            let ts = f64::from(m.timescale(id));
            track(id).iter().map(|s| s.pts).min().map(|p| p as f64 / ts)
        };
        let video = track(1);
        assert!(
            video.first().is_none_or(|s| s.is_sync()),
            "{uri}: not a keyframe first"
        );
        media.push(SegmentMedia {
            start: start(1).or(start(2)).expect("a segment with samples"),
            video: video.len(),
            audio: m.samples.get(&2).map_or(0, Vec::len),
        });
        whole.extend(bytes);
    }
    let m = mp4::parse(&whole);
    let end_of = |id: u32| {
        let ts = f64::from(m.timescale(id));
        m.samples[&id]
            .iter()
            .map(|s| (s.pts + i64::from(s.duration)) as f64 / ts)
            .fold(f64::MIN, f64::max)
    };
    let presentation_end = end_of(1).max(end_of(2));
    let starts: Vec<f64> = media
        .iter()
        .map(|s| s.start)
        .chain([presentation_end])
        .collect();
    for (i, (uri, extinf)) in segments.iter().enumerate() {
        let real = starts[i + 1] - starts[i];
        assert!(
            (extinf - real).abs() < 2e-6,
            "{uri}: EXTINF {extinf}, its media lasts {real} s (next video start minus its own)"
        );
    }
    // The media duration from the first video frame on: the sum of the video frame
    // durations, plus any audio that runs past the last frame.
    let ts = f64::from(m.timescale(1));
    let frames: f64 = m.samples[&1]
        .iter()
        .map(|s| f64::from(s.duration))
        .sum::<f64>()
        / ts;
    let media_duration = frames + (presentation_end - end_of(1)).max(0.0);
    let listed: f64 = segments.iter().map(|(_, d)| d).sum();
    assert!(
        (listed - media_duration).abs() < 1e-6 * segments.len() as f64,
        "EXTINF sum {listed} s, media {media_duration} s"
    );
    media
}

/// A live run: target constant, rounded EXTINF at most it, every segment but the last
/// one GOP (`gop_s`) long, the first within a frame of the others.
fn live_case(name: &str, fps: u32, gop: u32, target: u32, seconds: u32) {
    let d = dir(name);
    let launch = format!(
        "videotestsrc is-live=true num-buffers={frames} \
           ! video/x-raw,format=I420,width=320,height=180,framerate={fps}/1 \
           ! x264enc tune=zerolatency key-int-max={gop} speed-preset=veryfast ! h264parse ! h.video_0 \
         audiotestsrc is-live=true num-buffers={audio} samplesperbuffer=1024 \
           ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! h.audio_0 {sink}",
        frames = fps * seconds,
        // The audio runs about 0.1 s past the video: it joins the last segment.
        audio = seconds * 48000 / 1024 + 5,
        sink = sink(&d, &format!("target-duration={target} playlist-length=6")),
    );
    let snapshots = run_polling(&d, &launch, u64::from(seconds) + 20);
    let (listed_target, segments) = judge_playlists(&snapshots);
    assert_eq!(listed_target, target, "the configured target duration");
    let media = check_durations(&d, &segments);
    let frame = 1.0 / f64::from(fps);
    let gop_s = f64::from(gop) / f64::from(fps);
    let durations: Vec<f64> = segments.iter().map(|(_, d)| *d).collect();
    assert!(
        durations.len() as u32 >= seconds / target - 1,
        "{durations:?}"
    );
    let full = &durations[..durations.len() - 1];
    for d in full {
        assert!(
            (d - durations[0]).abs() <= frame + 1e-6,
            "first segment {} s, another {d} s: {durations:?}",
            durations[0]
        );
        assert!(
            (d - gop_s).abs() < 1e-6,
            "a {fps} fps stream with {gop}-frame GOPs: {durations:?}"
        );
    }
    assert!(
        media.iter().all(|m| m.video > 0 && m.audio > 0),
        "every segment holds both tracks"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn live_30fps_one_second_segments() {
    live_case("live30", 30, 30, 1, 8);
}

#[test]
fn live_25fps_two_second_segments() {
    live_case("live25", 25, 50, 2, 10);
}

#[test]
fn file_presentation_has_whole_segments_and_no_audio_stub() {
    let d = dir("file");
    let launch = format!(
        "videotestsrc num-buffers=600 ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 \
           ! x264enc speed-preset=veryfast ! h264parse ! h.video_0 \
         audiotestsrc num-buffers=1000 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=2 \
           ! avenc_aac ! aacparse ! h.audio_0 {}",
        sink(&d, "target-duration=6")
    );
    let snapshots = run_polling(&d, &launch, 60);
    let (target, segments) = judge_playlists(&snapshots);
    assert_eq!(target, 6);
    let media = check_durations(&d, &segments);
    let durations: Vec<f64> = segments.iter().map(|(_, d)| *d).collect();
    // The audio after the last video frame joins the last segment: no stub of its own.
    assert!(
        media.iter().all(|m| m.video > 0),
        "a segment without video: {durations:?}"
    );
    assert_eq!(durations.len(), 4, "{durations:?}");
    for d in &durations[..3] {
        assert!((d - 6.0).abs() < 1e-6, "{durations:?}");
    }
    // 2 s of video, and the audio that runs past it (less than two AAC frames).
    assert!(
        durations[3] >= 2.0 - 1e-6 && durations[3] < 2.0 + 2.0 * 1024.0 / 48000.0,
        "{durations:?}"
    );
    let _ = std::fs::remove_dir_all(d);
}
