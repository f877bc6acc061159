//! fragmp4hlssink: an HLS presentation of fMP4 segments whose playlist tells the truth,
//! played by ffmpeg and by hls.js in headless Chromium.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{judges, mp4, pipeline, synth};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fragmp4-hls-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sink(d: &Path, extra: &str) -> String {
    format!(
        "fragmp4hlssink name=h target-duration=2 location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8 multivariant-location={0}/main.m3u8 {extra}",
        d.display()
    )
}

/// (EXTINF durations, segment URIs, maps, discontinuities, the whole text).
fn playlist(d: &Path) -> (Vec<f64>, Vec<String>, String) {
    let text = std::fs::read_to_string(d.join("playlist.m3u8")).unwrap();
    let mut durations = vec![];
    let mut uris = vec![];
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(v) = l.strip_prefix("#EXTINF:") {
            durations.push(v.trim_end_matches(',').parse().unwrap());
            uris.push(lines.next().unwrap().to_string());
        }
    }
    (durations, uris, text)
}

#[test]
fn vod_presentation_is_truthful_and_plays() {
    let d = dir("vod");
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=300 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
             ! x264enc bframes=2 key-int-max=45 speed-preset=ultrafast ! h264parse ! h.video_0 \
             audiotestsrc num-buffers=466 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! h.audio_0 {}",
            sink(&d, "")
        ),
        60,
    );
    let (durations, uris, text) = playlist(&d);
    assert!(text.contains("#EXT-X-MAP:URI=\"init0.mp4\"") && text.ends_with("#EXT-X-ENDLIST\n"));
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        durations.iter().all(|d| d.round() <= target),
        "TARGETDURATION {target} below a rounded EXTINF: {durations:?}"
    );
    // The media: init + every segment, read back by mp4-atom.
    let mut bytes = std::fs::read(d.join("init0.mp4")).unwrap();
    for u in &uris {
        let seg = std::fs::read(d.join(u)).unwrap();
        let m = mp4::parse(&[std::fs::read(d.join("init0.mp4")).unwrap(), seg.clone()].concat());
        assert!(
            m.samples[&1].first().is_none_or(|s| s.is_sync()),
            "{u} starts with a keyframe"
        );
        bytes.extend(seg);
    }
    let m = mp4::parse(&bytes);
    assert_eq!(m.samples[&1].len(), 300);
    let span = |id: u32| {
        let ts = f64::from(m.timescale(id));
        let s = &m.samples[&id];
        let first = s.iter().map(|s| s.pts).min().unwrap() as f64 / ts;
        let end = s
            .iter()
            .map(|s| s.pts + i64::from(s.duration))
            .max()
            .unwrap() as f64
            / ts;
        (first, end)
    };
    let (v, a) = (span(1), span(2));
    let media = v.1.max(a.1) - v.0.min(a.0);
    let listed: f64 = durations.iter().sum();
    assert!(
        (listed - media).abs() <= 1.0 / 30.0,
        "EXTINF sum {listed} s, media {media} s"
    );
    let main = std::fs::read_to_string(d.join("main.m3u8")).unwrap();
    assert!(
        main.contains("CODECS=\"avc1.")
            && main.contains(",mp4a.40.2\"")
            && main.contains("RESOLUTION=320x240")
    );
    // ffmpeg's HLS demuxer and hls.js in Chromium play it to the end.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(d.join("main.m3u8"))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = judges::chromium(
        "hls.mjs",
        &[d.as_os_str(), std::ffi::OsStr::new("main.m3u8")],
    );
    assert!(
        result.contains("\"frames\":300") || result.contains("\"ok\":true"),
        "{result}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn live_window_keeps_the_last_segments() {
    let d = dir("live");
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=360 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
             ! x264enc key-int-max=30 speed-preset=ultrafast ! h264parse ! h.video_0 {}",
            sink(&d, "playlist-length=2 max-files=3")
        ),
        60,
    );
    let (durations, uris, text) = playlist(&d);
    assert_eq!(uris, vec!["seg00004.m4s", "seg00005.m4s"], "{text}");
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:4\n"));
    assert_eq!(durations.len(), 2);
    let segments = std::fs::read_dir(&d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".m4s")
        })
        .count();
    assert_eq!(segments, 3, "max-files keeps the newest three");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_new_init_starts_a_discontinuity() {
    use gst::prelude::*;
    support::init();
    let d = dir("disc");
    let p = gst::parse::launch(&format!(
        "appsrc name=v format=time ! h.video_0 {}",
        sink(&d, "")
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let v = synth::appsrc(&p, "v");
    v.set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC))));
    p.set_state(gst::State::Playing).unwrap();
    synth::push(&v, synth::video_frames(0..100, (25, 1), 25));
    let mut caps = synth::h264_caps((25, 1), Some(&synth::AVCC_MAIN));
    caps.get_mut()
        .unwrap()
        .structure_mut(0)
        .unwrap()
        .set("width", 640i32);
    v.set_caps(Some(&caps));
    synth::push(&v, synth::video_frames(100..200, (25, 1), 25));
    v.end_of_stream().unwrap();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 30);
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(result, Ok(()));
    let (_, uris, text) = playlist(&d);
    assert!(
        text.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\""),
        "{text}"
    );
    assert_eq!(uris.len(), 4);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_single_file_presentation_lists_byte_ranges_and_plays() {
    let d = dir("single");
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=150 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
             ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! h.video_0 \
             audiotestsrc num-buffers=235 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! h.audio_0 \
             fragmp4hlssink name=h target-duration=2 single-file=true location={0}/all.mp4 \
             playlist-location={0}/playlist.m3u8 multivariant-location={0}/main.m3u8",
            d.display()
        ),
        60,
    );
    // The independent m3u8 parser: every segment a byte range of all.mp4, the init too.
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import m3u8,sys\n\
             p=m3u8.load(sys.argv[1])\n\
             print(p.segments[0].init_section.uri, p.segments[0].init_section.byterange)\n\
             for s in p.segments: print(s.uri, s.byterange)",
        )
        .arg(d.join("playlist.m3u8"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let data = std::fs::read(d.join("all.mp4")).unwrap();
    let range = |spec: &str| -> (usize, usize) {
        let (len, at) = spec.split_once('@').expect("len@offset");
        (len.parse().unwrap(), at.parse().unwrap())
    };
    let (uri, init) = lines.next().unwrap().split_once(' ').unwrap();
    assert_eq!(uri, "all.mp4");
    let (init_len, init_at) = range(init);
    assert_eq!(init_at, 0);
    assert_eq!(&data[4..8], b"ftyp");
    let mut next = init_len;
    let mut segments = 0;
    for l in lines {
        let (uri, spec) = l.split_once(' ').unwrap();
        assert_eq!(uri, "all.mp4");
        let (len, at) = range(spec);
        assert_eq!(at, next, "segments tile the file");
        // Each range is whole boxes starting with a moof (one fragment).
        let (first, _, kind) = mp4::box_at(&data, at);
        assert_eq!(&kind, b"moof");
        assert!(first < len);
        next = at + len;
        segments += 1;
    }
    assert_eq!(next, data.len(), "nothing outside the ranges");
    assert!(segments >= 2);
    // ffmpeg and hls.js play it.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(d.join("playlist.m3u8"))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = judges::chromium(
        "hls.mjs",
        &[d.as_os_str(), std::ffi::OsStr::new("playlist.m3u8")],
    );
    assert!(result.contains("\"ok\":true"), "{result}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn single_file_with_parts_is_refused() {
    let error = pipeline::refused(
        "videotestsrc num-buffers=10 ! x264enc ! h264parse ! fragmp4hlssink single-file=true \
         part-duration=200000000 location=/tmp/fragmp4-never.mp4",
        gst::State::Paused,
    );
    assert!(error.contains("single-file"), "{error}");
}
