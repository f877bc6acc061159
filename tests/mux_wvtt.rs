//! WebVTT: cues on a `subtitle_%u` pad become a `wvtt` track whose samples mp4box.js
//! reads back with the input's texts and times (to the millisecond): samples tile the
//! track without holes, overlapping cues share samples, and samples split where the
//! video's fragments start.

mod support;

use gst::prelude::*;
use std::process::Command;
use support::{mp4, pipeline};

const MS: u64 = 1_000_000;

#[derive(Debug)]
struct VttSample {
    start: f64,
    end: f64,
    cues: Vec<String>,
}

/// The wvtt samples as mp4box.js reads them (tests/browser/mp4box-wvtt.mjs).
fn mp4box_wvtt(path: &std::path::Path) -> Vec<VttSample> {
    let script = format!(
        "{}/tests/browser/mp4box-wvtt.mjs",
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
    let field = |line: &str, name: &str| -> f64 {
        line.split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cues = l
                .split("\"cues\":[")
                .nth(1)
                .unwrap()
                .trim_end_matches("]}")
                .split("\",\"")
                .map(|c| c.trim_matches('"').replace("\\\"", "\""))
                .filter(|c| !c.is_empty())
                .collect();
            VttSample {
                start: field(l, "start"),
                end: field(l, "end"),
                cues,
            }
        })
        .collect()
}

/// H.264 (B-frames, 0.5 s GOPs, 3 s) and an appsrc of `caps` on `subtitle_0`, into
/// `fragmp4mux` cutting 1 s fragments; `cues` are (start ms, end ms, buffer text).
fn run(name: &str, caps: &str, cues: &[(u64, u64, &str)]) -> (std::path::PathBuf, gst::Structure) {
    run_with(name, VIDEO, caps, cues)
}

const VIDEO: &str = "videotestsrc num-buffers=90 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
     ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! m.video_0";

/// Like [`run`], with `media` (a launch fragment ending in a muxer pad) as the track
/// the subtitles follow.
fn run_with(
    name: &str,
    media: &str,
    caps: &str,
    cues: &[(u64, u64, &str)],
) -> (std::path::PathBuf, gst::Structure) {
    support::init();
    let path = std::env::temp_dir().join(format!("fragmp4-wvtt-{}-{name}.mp4", std::process::id()));
    let launch = format!(
        "{media} appsrc name=subs format=time caps={caps} ! m.subtitle_0 \
         fragmp4mux name=m fragment-duration=1000000000 ! filesink location={}",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("subs")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    for (start, end, text) in cues {
        let mut b = gst::Buffer::from_slice(text.as_bytes().to_vec());
        let b2 = b.get_mut().unwrap();
        b2.set_pts(gst::ClockTime::from_nseconds(start * MS));
        // A cue that ends before it starts is sent without a duration (and is dropped).
        if end > start {
            b2.set_duration(gst::ClockTime::from_nseconds((end - start) * MS));
        }
        src.push_buffer(b).unwrap();
    }
    let _ = src.end_of_stream();
    let mux = p.by_name("m").unwrap();
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    let stats = mux.property::<gst::Structure>("stats");
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    (path, stats)
}

/// Where track 1 presents first, where each of its chunks starts, and where it ends
/// (seconds).
fn video_times(path: &std::path::Path) -> (f64, Vec<f64>, f64) {
    let file = mp4::parse(&std::fs::read(path).unwrap());
    let ts = f64::from(file.timescale(1));
    let video = &file.samples[&1];
    let starts = (0..file.chunks.len())
        .filter_map(|c| video.iter().filter(|s| s.chunk == c).map(|s| s.pts).min())
        .map(|t| t as f64 / ts)
        .collect::<Vec<_>>();
    let end = video
        .iter()
        .map(|s| s.pts + i64::from(s.duration))
        .max()
        .unwrap() as f64
        / ts;
    (starts[0], starts, end)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.0015
}

/// The time ranges where `text` shows, merged.
fn shown(samples: &[VttSample], text: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for s in samples.iter().filter(|s| s.cues.iter().any(|c| c == text)) {
        match out.last_mut() {
            Some(last) if close(last.1, s.start) => last.1 = s.end,
            _ => out.push((s.start, s.end)),
        }
    }
    out
}

#[test]
fn cues_tile_the_track_and_split_at_fragments() {
    let cues = [
        (500, 1500, "c1\n00:00.500 --> 00:01.500 align:start\nHello"),
        (1000, 2000, "<i>overlap</i>"),
        (2200, 2600, "later"),
    ];
    let (path, stats) = run("vtt", "application/x-subtitle-vtt", &cues);
    assert_eq!(stats.get::<u64>("dropped-cues").unwrap(), 0);
    let samples = mp4box_wvtt(&path);
    let (zero, chunk_starts, video_end) = video_times(&path);
    assert!(!samples.is_empty());
    // No holes: from the video's first frame to its end.
    assert!(close(samples[0].start, zero), "{samples:?} from {zero}");
    for w in samples.windows(2) {
        assert!(close(w[0].end, w[1].start), "hole between {w:?}");
    }
    assert!(
        close(samples.last().unwrap().end, video_end),
        "{samples:?} to {video_end}"
    );
    // Each cue shows exactly over its time.
    for (start, end, text) in [
        (500, 1500, "Hello"),
        (1000, 2000, "<i>overlap</i>"),
        (2200, 2600, "later"),
    ] {
        let got = shown(&samples, text);
        assert_eq!(got.len(), 1, "{text}: {got:?}");
        assert!(
            close(got[0].0, zero + start as f64 / 1000.0)
                && close(got[0].1, zero + end as f64 / 1000.0),
            "{text} shows over {got:?}, sent {start}-{end} ms after {zero}"
        );
    }
    // Overlapping cues share the samples of their overlap.
    assert!(
        samples
            .iter()
            .any(|s| s.cues == vec!["Hello".to_string(), "<i>overlap</i>".to_string()])
    );
    // The video still plays: qtdemux and fragmp4demux (which skips the text track).
    for demuxer in ["qtdemux", "fragmp4demux"] {
        let decoded = support::judges::demux_decode(&path, demuxer, &["video_0"]);
        assert_eq!(decoded[0].frames, 90, "{demuxer}");
    }
    // A sample boundary wherever a video chunk (fragment) starts.
    for c in &chunk_starts {
        assert!(
            samples.iter().any(|s| close(s.start, *c)),
            "no subtitle sample starts at the chunk start {c}: {samples:?}"
        );
    }
}

#[test]
fn plain_text_becomes_escaped_cue_text_and_bad_cues_are_dropped() {
    let cues = [(300, 900, "a < b & c\n"), (1200, 1100, "backwards")];
    let (path, stats) = run("text", "text/x-raw,format=utf8", &cues);
    assert_eq!(stats.get::<u64>("dropped-cues").unwrap(), 1);
    let samples = mp4box_wvtt(&path);
    let (zero, _, _) = video_times(&path);
    let got = shown(&samples, "a &lt; b &amp; c");
    assert_eq!(got.len(), 1, "{samples:?}");
    assert!(
        close(got[0].0, zero + 0.3) && close(got[0].1, zero + 0.9),
        "{got:?}"
    );
}

/// Without video the subtitles follow the audio, cut on its grid: no stall, no hole.
#[test]
fn audio_only_subtitles_follow_the_audio() {
    let cues = [(400, 1700, "over the cut")];
    let audio = "audiotestsrc num-buffers=94 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
                 ! avenc_aac ! aacparse ! m.audio_0";
    let (path, _) = run_with("audio", audio, "application/x-subtitle-vtt", &cues);
    let samples = mp4box_wvtt(&path);
    let (zero, chunk_starts, end) = video_times(&path);
    assert!(chunk_starts.len() >= 2, "{chunk_starts:?}");
    assert!(close(samples[0].start, zero), "{samples:?}");
    for w in samples.windows(2) {
        assert!(close(w[0].end, w[1].start), "hole between {w:?}");
    }
    assert!(
        close(samples.last().unwrap().end, end),
        "{samples:?} to {end}"
    );
    let got = shown(&samples, "over the cut");
    assert_eq!(got.len(), 1, "{samples:?}");
    assert!(
        close(got[0].0, zero + 0.4) && close(got[0].1, zero + 1.7),
        "{got:?}"
    );
    for c in &chunk_starts {
        assert!(
            samples.iter().any(|s| close(s.start, *c)),
            "{c}: {samples:?}"
        );
    }
}

/// fragmp4hlssink with a `subtitle_0` pad: a subtitle rendition whose cues hls.js puts in
/// the video's subtitle TextTrack with their texts and times, its LANGUAGE the BCP 47 form
/// of the pad's `language-code` tag.
#[test]
fn hls_subtitle_rendition_reaches_hls_js() {
    support::init();
    let d = std::env::temp_dir().join(format!("fragmp4-wvtt-{}-hls", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let launch = format!(
        "videotestsrc num-buffers=120 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! h.video_0 \
         appsrc name=subs format=time caps=application/x-subtitle-vtt \
         ! taginject tags=\"language-code=en_gb\" ! h.subtitle_0 \
         fragmp4hlssink name=h target-duration=1 location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8 multivariant-location={0}/main.m3u8",
        d.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("subs")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let cues = [(400u64, 1600u64, "first cue"), (2200, 3100, "second cue")];
    for (start, end, text) in cues {
        let mut b = gst::Buffer::from_slice(text.as_bytes().to_vec());
        let bm = b.get_mut().unwrap();
        bm.set_pts(gst::ClockTime::from_nseconds(start * MS));
        bm.set_duration(gst::ClockTime::from_nseconds((end - start) * MS));
        src.push_buffer(b).unwrap();
    }
    let _ = src.end_of_stream();
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    // An independent HLS parser (PyPI m3u8): the rendition is declared and used, and its
    // segments last what the media segments last.
    let check = Command::new("python3")
        .arg("-c")
        .arg(
            "import m3u8, sys\n\
             d = sys.argv[1]\n\
             m = m3u8.load(d + '/main.m3u8')\n\
             subs = [x for x in m.media if x.type == 'SUBTITLES']\n\
             assert len(subs) == 1 and subs[0].uri == 'subtitles.m3u8', m.dumps()\n\
             assert subs[0].language == 'en-GB', m.dumps()\n\
             assert all(p.stream_info.subtitles == subs[0].group_id for p in m.playlists)\n\
             s = m3u8.load(d + '/subtitles.m3u8')\n\
             v = m3u8.load(d + '/playlist.m3u8')\n\
             assert s.is_endlist and [x.duration for x in s.segments] == [x.duration for x in v.segments]\n\
             for x in s.segments:\n\
             \x20   t = open(d + '/' + x.uri).read()\n\
             \x20   assert t.startswith('WEBVTT\\nX-TIMESTAMP-MAP=MPEGTS:'), t\n",
        )
        .arg(&d)
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let json = support::judges::chromium(
        "hls.mjs",
        &[d.as_os_str(), std::ffi::OsStr::new("main.m3u8")],
    );
    assert!(json.contains("\"ok\":true"), "{json}");
    // hls.js gives the TextTrack the rendition's language.
    assert!(json.contains("\"language\":\"en-GB\""), "{json}");
    let start: f64 = json
        .split("\"ranges\":[[")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no buffered range: {json}"));
    for (s, e, text) in cues {
        let needle = format!("\"text\":\"{text}\"");
        let at = json
            .find(&needle)
            .unwrap_or_else(|| panic!("{text} not in {json}"));
        let before = &json[..at];
        let cue = &before[before.rfind('{').unwrap()..];
        let field = |name: &str| -> f64 {
            cue.split(&format!("\"{name}\":"))
                .nth(1)
                .and_then(|r| r.split(',').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {cue}"))
        };
        let (want_s, want_e) = (start + s as f64 / 1000.0, start + e as f64 / 1000.0);
        assert!(
            (field("start") - want_s).abs() < 0.002 && (field("end") - want_e).abs() < 0.002,
            "{text}: {cue}, sent {want_s}-{want_e}: {json}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Live: a subtitle pad that stays silent after one cue holds nothing back; the track
/// still tiles the whole video.
#[test]
fn a_silent_live_subtitle_pad_is_not_a_stalled_pad() {
    support::init();
    let path = std::env::temp_dir().join(format!("fragmp4-wvtt-{}-live.mp4", std::process::id()));
    let launch = format!(
        "videotestsrc is-live=true num-buffers=45 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! h264parse ! m.video_0 \
         appsrc name=subs is-live=true min-latency=0 max-latency=10000000000 format=time \
         caps=application/x-subtitle-vtt ! m.subtitle_0 \
         fragmp4mux name=m fragment-duration=500000000 ! filesink location={}",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("subs")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let mut b = gst::Buffer::from_slice(b"live cue".to_vec());
    let bm = b.get_mut().unwrap();
    bm.set_pts(gst::ClockTime::from_nseconds(200 * MS));
    bm.set_duration(gst::ClockTime::from_nseconds(600 * MS));
    src.push_buffer(b).unwrap();
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 20);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    let file = mp4::parse(&std::fs::read(&path).unwrap());
    assert_eq!(file.samples[&1].len(), 45, "every frame written");
    let samples = mp4box_wvtt(&path);
    let (zero, _, end) = video_times(&path);
    for w in samples.windows(2) {
        assert!(close(w[0].end, w[1].start), "hole between {w:?}");
    }
    assert!(close(samples[0].start, zero) && close(samples.last().unwrap().end, end));
    assert_eq!(shown(&samples, "live cue").len(), 1, "{samples:?}");
}

/// The `language-code` tags of a subtitle pad and an audio pad: mp4box.js reads the
/// `mdhd` language (ISO 639-2/T, the bibliographic `ger` becoming `deu`) and the `elng`
/// (BCP 47); mp4-atom reads the same `mdhd`. A track without a tag stays `und`, no `elng`.
#[test]
fn language_tags_reach_mdhd_and_elng() {
    support::init();
    let path = std::env::temp_dir().join(format!("fragmp4-wvtt-{}-lang.mp4", std::process::id()));
    let launch = format!(
        "{VIDEO} audiotestsrc num-buffers=40 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
         ! avenc_aac ! aacparse ! taginject tags=\"language-code=ger\" ! m.audio_0 \
         appsrc name=subs format=time caps=application/x-subtitle-vtt \
         ! taginject tags=\"language-code=pt_br\" ! m.subtitle_0 \
         fragmp4mux name=m fragment-duration=1000000000 ! filesink location={}",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("subs")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let mut b = gst::Buffer::from_slice(b"Ola".to_vec());
    let bm = b.get_mut().unwrap();
    bm.set_pts(gst::ClockTime::from_nseconds(300 * MS));
    bm.set_duration(gst::ClockTime::from_nseconds(500 * MS));
    src.push_buffer(b).unwrap();
    let _ = src.end_of_stream();
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));

    let script = format!(
        "{}/tests/browser/mp4box-tracks.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = Command::new("node")
        .arg(&script)
        .arg(&path)
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "mp4box.js: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let track = |handler: &str| -> (String, Option<String>) {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("\"handler\":\"{handler}\"")))
            .unwrap_or_else(|| panic!("no {handler} track in {text}"));
        let field = |name: &str| -> Option<String> {
            let v = line.split(&format!("\"{name}\":")).nth(1)?;
            let v = v.strip_prefix('"')?;
            // The box holds a NUL-terminated string; mp4box.js may keep the NUL.
            Some(v[..v.find('"')?].trim_end_matches("\\u0000").to_string())
        };
        (field("mdhd").expect("mdhd"), field("elng"))
    };
    assert_eq!(track("soun"), ("deu".into(), Some("de".into())), "{text}");
    assert_eq!(
        track("text"),
        ("por".into(), Some("pt-BR".into())),
        "{text}"
    );
    assert_eq!(track("vide"), ("und".into(), None), "{text}");
    // mp4-atom reads the same mdhd languages, by track order: video, audio, text.
    let data = std::fs::read(&path).unwrap();
    let langs: Vec<String> = mp4::parse(&data)
        .moov
        .trak
        .iter()
        .map(|t| t.mdia.mdhd.language.clone())
        .collect();
    assert_eq!(langs, ["und", "deu", "por"]);
    // The subtitle track still carries the cue.
    let samples = mp4box_wvtt(&path);
    assert_eq!(shown(&samples, "Ola").len(), 1, "{samples:?}");
    // fragmp4demux reads the language back and gives it as the tag: remuxed, the audio
    // track has it again.
    let again = path.with_extension("remux.mp4");
    support::pipeline::run_to_eos(
        &format!(
            "filesrc location={} ! fragmp4demux name=d d.audio_0 ! fragmp4mux ! filesink location={}",
            path.display(),
            again.display()
        ),
        30,
    );
    let out = Command::new("node")
        .arg(&script)
        .arg(&again)
        .output()
        .expect("node runs");
    let remuxed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        remuxed.contains("\"mdhd\":\"deu\",\"elng\":\"de"),
        "{remuxed}"
    );
    let _ = std::fs::remove_file(&again);
    let _ = std::fs::remove_file(&path);
}

/// A muxer of one subtitle track (as fragmp4dashsink runs it): the track tiles from
/// running time 0 to the last cue's end, split on the `fragment-duration` grid, each cue
/// showing over its time.
#[test]
fn subtitles_alone_tile_on_the_fragment_grid() {
    let cues = [(400, 1600, "first"), (2200, 3100, "second")];
    let (path, stats) = run_with("alone", "", "application/x-subtitle-vtt", &cues);
    assert_eq!(stats.get::<u64>("dropped-cues").unwrap(), 0);
    let samples = mp4box_wvtt(&path);
    assert!(close(samples[0].start, 0.0), "{samples:?}");
    for w in samples.windows(2) {
        assert!(close(w[0].end, w[1].start), "hole between {w:?}");
    }
    assert!(close(samples.last().unwrap().end, 3.1), "{samples:?}");
    for b in [1.0, 2.0, 3.0] {
        assert!(
            samples.iter().any(|s| close(s.start, b)),
            "{b}: {samples:?}"
        );
    }
    for (s, e, text) in cues {
        let got = shown(&samples, text);
        assert_eq!(got.len(), 1, "{text}: {samples:?}");
        assert!(
            close(got[0].0, s as f64 / 1000.0) && close(got[0].1, e as f64 / 1000.0),
            "{text}: {got:?}"
        );
    }
    // Fragments start on the grid: one chunk per second of the track.
    let file = mp4::parse(&std::fs::read(&path).unwrap());
    assert_eq!(file.chunks.len(), 4, "{:?}", file.chunks);
}

/// Round trip: `fragmp4demux` gives the `wvtt` track back on a `subtitle_%u` pad as
/// `application/x-subtitle-vtt`, one buffer per cue text with its sample's times (a cue
/// split over samples comes back in pieces, back to back: joined here), gaps as GAP
/// events: the texts and times sent, relative to the video's first frame.
#[test]
fn fragmp4demux_gives_the_cues_back() {
    let cues = [
        (500, 1500, "c1\n00:00.500 --> 00:01.500 align:start\nHello"),
        (2200, 2600, "later"),
    ];
    let (path, _) = run("demux", "application/x-subtitle-vtt", &cues);
    let launch = format!(
        "filesrc location={} ! fragmp4demux name=d \
         d.subtitle_0 ! queue ! appsink name=subs sync=false \
         d.video_0 ! queue ! appsink name=video sync=false",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let sink = |name: &str| {
        p.by_name(name)
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap()
    };
    let (subs, video) = (sink("subs"), sink("video"));
    let caps = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(f64, f64, String)>::new()));
    let (c, g) = (caps.clone(), got.clone());
    subs.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let b = sample.buffer().unwrap();
                *c.lock().unwrap() = sample.caps().map(|c| c.to_string());
                let text = String::from_utf8(b.map_readable().unwrap().to_vec()).unwrap();
                let start = b.pts().unwrap().nseconds() as f64 / 1e9;
                let end = start + b.duration().unwrap().nseconds() as f64 / 1e9;
                g.lock().unwrap().push((start, end, text));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let first_video = std::sync::Arc::new(std::sync::Mutex::new(None::<f64>));
    let f = first_video.clone();
    video.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let pts = sample.buffer().unwrap().pts().unwrap().nseconds() as f64 / 1e9;
                let mut f = f.lock().unwrap();
                *f = Some(f.map_or(pts, |v: f64| v.min(pts)));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    p.set_state(gst::State::Playing).unwrap();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 30);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    let caps = caps.lock().unwrap().clone().expect("subtitle caps");
    assert!(caps.starts_with("application/x-subtitle-vtt"), "{caps}");
    let zero = first_video.lock().unwrap().expect("video frames");
    let mut joined: Vec<(f64, f64, String)> = Vec::new();
    for (s, e, text) in got.lock().unwrap().iter().cloned() {
        match joined.last_mut() {
            Some(last) if last.2 == text && close(last.1, s) => last.1 = e,
            _ => joined.push((s, e, text)),
        }
    }
    let want = [(500, 1500, "Hello"), (2200, 2600, "later")];
    assert_eq!(joined.len(), want.len(), "{joined:?}");
    for ((s, e, text), (ws, we, wt)) in joined.iter().zip(want) {
        assert_eq!(text, wt);
        assert!(
            close(*s, zero + ws as f64 / 1000.0) && close(*e, zero + we as f64 / 1000.0),
            "{text}: {s}-{e}, sent {ws}-{we} ms after {zero}"
        );
    }
    let _ = std::fs::remove_file(&path);
}
