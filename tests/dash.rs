//! fragmp4dashsink: every MPD written during a run is parsed by an independent parser
//! (PyPI `mpegdash`, tests/dash_mpd.py); the timelines are compared, to the tick, with the
//! segments' earliest presentation times as `mp4-atom` reads them from the files
//! (DESIGN.md T4); ffmpeg's DASH demuxer decodes the presentation; the HTTP origin
//! serves it with `/time`; impossible settings are refused before the first byte.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;
use support::mp4;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fragmp4-dash-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const VIDEO: &str = "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
     ! x264enc key-int-max=30 bframes=2 ! h264parse";
const AUDIO: &str =
    "audiotestsrc num-buffers=141 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse";

/// Runs `launch` to EOS, keeping every distinct MPD written meanwhile (polled every
/// 10 ms) as `snapshot-N.mpd`; returns their paths in order.
fn run_polling(d: &Path, launch: &str, timeout_s: u64) -> Vec<PathBuf> {
    run_polling_with(d, launch, timeout_s, |_| {})
}

/// Like [`run_polling`], with `prepare` called on the pipeline before it plays.
fn run_polling_with(
    d: &Path,
    launch: &str,
    timeout_s: u64,
    prepare: impl FnOnce(&gst::Element),
) -> Vec<PathBuf> {
    support::init();
    let p = gst::parse::launch(launch).unwrap_or_else(|e| panic!("{launch}: {e}"));
    prepare(&p);
    let bus = p.bus().unwrap();
    let manifest = d.join("manifest.mpd");
    let snaps = d.join("snapshots");
    std::fs::create_dir_all(&snaps).unwrap();
    let mut last = String::new();
    let mut snapshots = Vec::new();
    let mut snapshot = |last: &mut String| {
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text != *last
        {
            let path = snaps.join(format!("snapshot-{:04}.mpd", snapshots.len()));
            std::fs::write(&path, &text).unwrap();
            // Stamp it with the fine-grained wall clock, after the read: the kernel's file
            // times come from a coarse clock (up to a tick, ~4 ms, behind).
            std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()))
                .unwrap();
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
    snapshot(&mut last);
    p.set_state(gst::State::Null).unwrap();
    snapshots
}

#[derive(Debug, Default)]
struct Rep {
    content: String,
    timescale: u32,
    pto: u64,
    init: String,
    bandwidth: u64,
    /// (name, t, d)
    segments: Vec<(String, u64, u64)>,
}

#[derive(Debug)]
struct Judged {
    kind: String,
    duration: Option<f64>,
    reps: BTreeMap<String, Rep>,
    /// ContentProtection: (content type, schemeIdUri, value, cenc:default_KID, pssh).
    protections: Vec<[String; 5]>,
    /// SegmentBase: (id, BaseURL, Initialization range, indexRange, timescale, PTO).
    bases: Vec<[String; 6]>,
    /// `InbandEventStream`s: content type, scheme, value (`-`: empty).
    events: Vec<[String; 3]>,
    /// ProducerReferenceTime per Representation: (UTC ms, presentationTime).
    prts: BTreeMap<String, (i64, u64)>,
    /// Per dynamic snapshot: (path, availabilityStartTime ms, publishTime ms, where its
    /// listed segments end in s of Period time).
    lives: Vec<(PathBuf, i64, i64, f64)>,
}

/// The independent parser's reading of the snapshots; panics with its findings.
fn judge(snapshots: &[PathBuf]) -> Judged {
    assert!(!snapshots.is_empty(), "no MPD was written");
    let script = format!("{}/tests/dash_mpd.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&script)
        .args(snapshots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'mpegdash'"),
        "PyPI mpegdash is missing: run scripts/install-deps.sh"
    );
    assert!(
        out.status.success(),
        "{} MPD snapshots violate the checks:\n{stdout}{stderr}\nlast one:\n{}",
        snapshots.len(),
        std::fs::read_to_string(snapshots.last().unwrap()).unwrap_or_default()
    );
    let mut judged = Judged {
        kind: String::new(),
        duration: None,
        reps: BTreeMap::new(),
        protections: Vec::new(),
        bases: Vec::new(),
        events: Vec::new(),
        prts: BTreeMap::new(),
        lives: Vec::new(),
    };
    for line in stdout.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["mpd", kind, d] => {
                judged.kind = kind.to_string();
                judged.duration = d.parse().ok();
            }
            ["rep", id, content, ts, pto, init, bw] => {
                judged.reps.insert(
                    id.to_string(),
                    Rep {
                        content: content.to_string(),
                        timescale: ts.parse().unwrap(),
                        pto: pto.parse().unwrap(),
                        init: init.to_string(),
                        bandwidth: bw.parse().unwrap(),
                        segments: Vec::new(),
                    },
                );
            }
            ["seg", id, name, t, d] => judged.reps.get_mut(*id).unwrap().segments.push((
                name.to_string(),
                t.parse().unwrap(),
                d.parse().unwrap(),
            )),
            ["base", id, url, init, index, ts, pto] => judged
                .bases
                .push([id, url, init, index, ts, pto].map(|w| w.to_string())),
            ["live", path, ast, publish, end] => judged.lives.push((
                PathBuf::from(path),
                ast.parse().unwrap(),
                publish.parse().unwrap(),
                end.parse().unwrap(),
            )),
            ["prt", id, wall, pt] => {
                judged
                    .prts
                    .insert(id.to_string(), (wall.parse().unwrap(), pt.parse().unwrap()));
            }
            ["cp", kind, scheme, value, kid, pssh] => judged
                .protections
                .push([kind, scheme, value, kid, pssh].map(|w| w.to_string())),
            ["ies", kind, scheme, value] => judged
                .events
                .push([kind, scheme, value].map(|w| w.to_string())),
            _ => panic!("unexpected judge output {line:?}"),
        }
    }
    judged
}

/// Checks each listed segment against its file (init + segment read by mp4-atom): one
/// track, a keyframe first, S@t = the smallest decode time + composition offset, S@d =
/// the next one's minus its own, the last one's until the presentation end (when
/// `whole`: the listed segments are every segment). Returns per Representation the
/// samples and the presentation end (ticks).
fn check_timelines(d: &Path, judged: &Judged, whole: bool) -> BTreeMap<String, (usize, u64)> {
    let mut out = BTreeMap::new();
    for (id, rep) in &judged.reps {
        let init = std::fs::read(d.join(&rep.init)).unwrap();
        let mut earliest = Vec::new();
        let mut end = 0u64;
        let mut samples = 0;
        for (name, _, _) in &rep.segments {
            let bytes = std::fs::read(d.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let m = mp4::parse(&[init.clone(), bytes].concat());
            assert_eq!(m.samples.len(), 1, "{name}: one track per Representation");
            let track = m.samples.values().next().unwrap();
            let ts = m.timescale(*m.samples.keys().next().unwrap());
            assert_eq!(ts, rep.timescale, "{name}: timescale");
            assert!(track[0].is_sync(), "{name}: starts with a sync sample");
            earliest.push(track.iter().map(|s| s.pts).min().unwrap() as u64);
            end = end.max(
                track
                    .iter()
                    .map(|s| (s.pts + i64::from(s.duration)) as u64)
                    .max()
                    .unwrap(),
            );
            samples += track.len();
        }
        for (i, (name, t, dur)) in rep.segments.iter().enumerate() {
            assert_eq!(
                *t, earliest[i],
                "{name}: S@t is the earliest presentation time"
            );
            let next = match earliest.get(i + 1) {
                Some(n) => *n,
                None if whole => end,
                None => continue,
            };
            assert_eq!(*dur, next - t, "{name}: S@d to the next segment's start");
        }
        out.insert(id.clone(), (samples, end));
    }
    out
}

fn sink(d: &Path, props: &str) -> String {
    format!("fragmp4dashsink name=d location={} {props}", d.display())
}

/// Frames ffmpeg's DASH demuxer decodes from the MPD, per stream type. (Counted one
/// stream at a time: with both mapped, ffmpeg 5.1's dashdec loses a B-frame at some
/// segment boundaries of the video.)
fn ffmpeg_frames(mpd: &Path, stream: &str) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", stream, "-count_frames"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(mpd)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        mpd.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next()
        .unwrap_or_else(|| panic!("ffprobe gave {text:?}"))
}

#[test]
fn vod_timelines_match_the_segments_to_the_tick() {
    let d = dir("vod");
    let launch = format!(
        "{VIDEO} ! {} {AUDIO} ! d.",
        sink(&d, "fragment-duration=1000000000")
    );
    let snapshots = run_polling(&d, &launch, 60);
    let judged = judge(&snapshots);
    assert_eq!(judged.kind, "static");
    let media = check_timelines(&d, &judged, true);
    let video = &judged.reps["video_0"];
    let audio = &judged.reps["audio_1"];
    assert_eq!(
        (video.content.as_str(), audio.content.as_str()),
        ("video", "audio")
    );
    assert_eq!((video.timescale, audio.timescale), (90000, 48000));
    assert_eq!(media["video_0"].0, 90, "every frame in the segments");
    assert!(video.segments.len() >= 3, "{:?}", video.segments);
    // Tracks muxed apart share the Period: x264enc's first DTS lies two frames before
    // its first PTS (running time 0), so the video's media time at Period 0 is 6000.
    assert_eq!(video.pto, 6000);
    assert_eq!(audio.pto, 0);
    assert_eq!(
        video.segments[0].1, video.pto,
        "video presented from Period time 0"
    );
    // mediaPresentationDuration: the longest track's end on the Period, exactly.
    let end_s = |id: &str| {
        let r = &judged.reps[id];
        (media[id].1 - r.pto) as f64 / f64::from(r.timescale)
    };
    let expected = end_s("video_0").max(end_s("audio_1"));
    let duration = judged.duration.expect("duration");
    assert!(
        (duration - expected).abs() < 1e-9,
        "{duration} vs {expected}"
    );
    assert!(video.bandwidth > audio.bandwidth && audio.bandwidth > 0);
    // ffmpeg's DASH demuxer decodes every frame of the input.
    let mpd = d.join("manifest.mpd");
    assert_eq!(ffmpeg_frames(&mpd, "v"), 90);
    assert_eq!(ffmpeg_frames(&mpd, "a") as usize, media["audio_1"].0);
    // Every MPD during the run was dynamic until the end.
    let first = std::fs::read_to_string(&snapshots[0]).unwrap();
    assert!(first.contains("type=\"dynamic\""), "{first}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn time_addressing_names_segments_by_their_start() {
    let d = dir("time");
    let launch = format!(
        "{VIDEO} ! {}",
        sink(&d, "fragment-duration=1000000000 segment-addressing=time")
    );
    let judged = judge(&run_polling(&d, &launch, 60));
    check_timelines(&d, &judged, true);
    let video = &judged.reps["video_0"];
    for (name, t, _) in &video.segments {
        assert_eq!(name, &format!("video_0-{t}.m4s"));
    }
    let text = std::fs::read_to_string(d.join("manifest.mpd")).unwrap();
    assert!(
        text.contains("media=\"$RepresentationID$-$Time$.m4s\""),
        "{text}"
    );
    assert!(!text.contains("startNumber"));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn live_window_slides_files_and_timeline_together() {
    let d = dir("window");
    let launch = format!(
        "videotestsrc is-live=true num-buffers=150 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=30 tune=zerolatency speed-preset=ultrafast ! h264parse ! {} \
         audiotestsrc is-live=true num-buffers=225 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! d.",
        // The audio (4.8 s) ends well before the video (5 s), so that its last samples
        // never arrive after the video's EOS as a sixth segment of their own (the
        // segment counts, and the files kept, then agree).
        sink(
            &d,
            "fragment-duration=1000000000 playlist-length=2 max-files=3"
        )
    );
    let snapshots = run_polling(&d, &launch, 60);
    assert!(snapshots.len() >= 4, "{} MPDs", snapshots.len());
    // The judge checks each dynamic one (attributes, UTCTiming, a window within
    // timeShiftBufferDepth that only moves forward, segments never rewritten).
    let judged = judge(&snapshots);
    let mut numbers = Vec::new();
    for s in &snapshots[..snapshots.len() - 1] {
        let text = std::fs::read_to_string(s).unwrap();
        assert!(text.contains("type=\"dynamic\""));
        assert!(text.contains("timeShiftBufferDepth=\""));
        assert!(text.contains("urn:mpeg:dash:utc:direct:2014"));
        if let Some(at) = text.find("startNumber=\"") {
            let rest = &text[at + 13..];
            numbers.push(rest[..rest.find('"').unwrap()].parse::<u64>().unwrap());
        }
    }
    assert!(
        numbers.last() > numbers.first(),
        "the window moved: {numbers:?}"
    );
    check_live_clock(&judged);
    // EOS: the static MPD lists every segment still on disk (max-files, more than the
    // window), the Period starting at the first of them; its duration runs from there to
    // the presentation end.
    assert_eq!(judged.kind, "static");
    let samples = check_timelines(&d, &judged, true);
    let files: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".m4s"))
        .collect();
    let mut longest = 0f64;
    let mut starts_at_pto = false;
    for (id, rep) in &judged.reps {
        let mut on_disk: Vec<&String> = files.iter().filter(|f| f.starts_with(id)).collect();
        on_disk.sort();
        let listed: Vec<&String> = rep.segments.iter().map(|s| &s.0).collect();
        assert_eq!(
            listed, on_disk,
            "{id}: the files kept are the segments listed"
        );
        assert_eq!(listed.len(), 3, "{id}");
        // The Period starts inside each Representation's first kept segment (at the
        // latest of their starts: where every track has media).
        let (_, t, d) = &rep.segments[0];
        assert!(
            rep.pto >= *t && rep.pto < t + d,
            "{id}: PTO {} for {:?}",
            rep.pto,
            rep.segments
        );
        starts_at_pto |= rep.pto == *t;
        let end = samples[id].1;
        longest = longest.max((end - rep.pto) as f64 / f64::from(rep.timescale));
    }
    assert!(
        starts_at_pto,
        "the Period starts with some track's first kept segment"
    );
    let duration = judged.duration.unwrap();
    assert!(
        (duration - longest).abs() < 0.002,
        "{duration} s vs {longest} s"
    );
    let video = &judged.reps["video_0"];
    let mpd = d.join("manifest.mpd");
    assert_eq!(
        ffmpeg_frames(&mpd, "v") as usize,
        samples["video_0"].0,
        "ffmpeg decodes every kept frame of {:?}",
        video.segments
    );
    let _ = std::fs::remove_dir_all(d);
}

/// Each dynamic MPD against the wall clock: its publishTime is when it was written (the
/// snapshot's file time: the wall clock just after the poller read it, within 10 ms), and the end of its listed segments,
/// put on the wall clock through availabilityStartTime, lies just before it: a live
/// source's segment is listed once complete, after its last frame was captured.
fn check_live_clock(judged: &Judged) {
    assert!(judged.lives.len() >= 3, "{:?}", judged.lives);
    for (path, ast, publish, end) in &judged.lives {
        let captured = std::fs::metadata(path)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let waited = captured - publish;
        assert!(
            (-5..1000).contains(&waited),
            "{}: publishTime {publish}, read at {captured}",
            path.display()
        );
        let listed_end = ast + (end * 1000.0) as i64;
        let behind = publish - listed_end;
        assert!(
            (-100..1500).contains(&behind),
            "{}: segments end {behind} ms before publishTime on the wall clock",
            path.display()
        );
    }
}

#[test]
fn low_latency_mpds_announce_the_segment_being_written() {
    let d = dir("ll");
    let launch = format!(
        "videotestsrc is-live=true num-buffers=120 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=30 tune=zerolatency speed-preset=ultrafast ! h264parse ! {} \
         audiotestsrc is-live=true num-buffers=188 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! d.",
        sink(&d, "fragment-duration=1000000000 chunk-duration=200000000")
    );
    let snapshots = run_polling(&d, &launch, 60);
    // The judge lets only the last S of a growing timeline change its d.
    let judged = judge(&snapshots);
    assert_eq!(judged.kind, "static");
    check_timelines(&d, &judged, true);
    let live: Vec<String> = snapshots[..snapshots.len() - 1]
        .iter()
        .map(|s| std::fs::read_to_string(s).unwrap())
        .collect();
    assert!(!live.is_empty());
    for text in &live {
        assert!(
            text.contains("availabilityTimeOffset=\"0.8\" availabilityTimeComplete=\"false\""),
            "{text}"
        );
        assert!(text.contains("<ServiceDescription"));
    }
    // The first MPD already lists the first segment, while it is being written.
    assert!(live[0].contains("<S t=\"0\""), "{}", live[0]);
    let final_text = std::fs::read_to_string(snapshots.last().unwrap()).unwrap();
    assert!(!final_text.contains("availabilityTimeComplete"));
    check_prfts(&d, &judged, 1_000_000_000);
    let _ = std::fs::remove_dir_all(d);
}

/// Low-latency segments: a `prft` (read by mp4-atom) before every chunk's `moof`, its
/// media_time that moof's tfdt, its UTC the one the MPD's ProducerReferenceTime gives
/// that media time (the same clock pairing, to the MPD's millisecond), and before the
/// segment file was last written by at most a segment and the encoder's delay (the
/// wall clock's rate).
fn check_prfts(d: &Path, judged: &Judged, fragment_ns: i128) {
    assert_eq!(judged.prts.len(), judged.reps.len(), "{:?}", judged.prts);
    for (id, rep) in &judged.reps {
        let (wall_ms, pt) = judged.prts[id];
        assert_eq!(
            pt, rep.pto,
            "{id}: ProducerReferenceTime at the Period start"
        );
        let mut count = 0;
        for (name, _, _) in &rep.segments {
            let path = d.join(name);
            let bytes = std::fs::read(&path).unwrap();
            let moofs = mp4::top_level_boxes(&bytes)
                .iter()
                .filter(|b| b.0 == "moof")
                .count();
            let found = support::prft::prfts(&bytes);
            assert_eq!(found.len(), moofs, "{name}: one prft per chunk");
            let written: i128 = std::fs::metadata(&path)
                .unwrap()
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as i128;
            for p in &found {
                assert_eq!(p.prft.reference_track_id, 1);
                assert_eq!(Some(p.prft.media_time), p.next_tfdt, "{name}: the tfdt");
                let utc = support::prft::unix_ns(p.prft.ntp_timestamp);
                let mpd = i128::from(wall_ms) * 1_000_000
                    + (i128::from(p.prft.media_time) - i128::from(pt)) * 1_000_000_000
                        / i128::from(rep.timescale);
                assert!(
                    (utc - mpd).abs() <= 1_100_000,
                    "{name}: prft UTC {utc} ns, the MPD's mapping gives {mpd} ns"
                );
                // The frames an audio encoder drains at EOS carry times a frame or two
                // past the samples that went in: written that much "early".
                let lag = written - utc;
                assert!(
                    (-100_000_000..fragment_ns + 1_500_000_000).contains(&lag),
                    "{name}: media time {} written {} ms after its prft UTC",
                    p.prft.media_time,
                    lag / 1_000_000
                );
                count += 1;
            }
        }
        assert!(count > 5, "{id}: {count} prft boxes");
    }
}

/// "a-b" to (a, b).
fn range(r: &str) -> (usize, usize) {
    let (a, b) = r.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn single_file_tracks_are_addressed_through_their_sidx() {
    let d = dir("single");
    let launch = format!(
        "{VIDEO} ! {} {AUDIO} ! d.",
        sink(&d, "fragment-duration=1000000000 single-file=true")
    );
    let judged = judge(&run_polling(&d, &launch, 60));
    assert_eq!(judged.kind, "static");
    assert_eq!(judged.bases.len(), 2, "{:?}", judged.bases);
    for [id, url, init, index, ts, _pto] in &judged.bases {
        assert_eq!(url, &format!("{id}.mp4"));
        let bytes = std::fs::read(d.join(url)).unwrap();
        let (i0, i1) = range(init);
        let (x0, x1) = range(index);
        assert_eq!((i0, x0), (0, i1 + 1), "{id}: the sidx right after the init");
        let top = mp4::top_level_boxes(&bytes);
        let names: Vec<&str> = top.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(&names[..3], ["ftyp", "moov", "sidx"], "{id}");
        // (name, offset, size): the sidx is exactly the index range.
        assert_eq!((top[2].1, top[2].2), (x0, x1 - x0 + 1), "{id}: {top:?}");
        assert_eq!(
            top[1].1 + top[1].2,
            x0,
            "{id}: init range ends at the moov's end"
        );
        let m = mp4::parse(&bytes);
        assert_eq!(
            m.timescale(*m.samples.keys().next().unwrap()).to_string(),
            *ts
        );
        if id.starts_with("video") {
            assert_eq!(m.samples.values().next().unwrap().len(), 90);
        }
    }
    let mpd = d.join("manifest.mpd");
    assert_eq!(ffmpeg_frames(&mpd, "v"), 90);
    let _ = std::fs::remove_dir_all(d);
}

/// A ClearKey `pssh` (version 1, KID 0123456789abcdef0123456789abcdef).
const PSSH: &str = "AAAANHBzc2gBAAAA4nGdWKmFs8l4GrAwr3jTDgAAAAEBI0VniavN7wEjRWeJq83vAAAAAA==";

#[test]
fn encrypted_presentations_carry_content_protection() {
    let d = dir("cenc");
    let launch = format!(
        "{VIDEO} ! {} {AUDIO} ! d.",
        sink(
            &d,
            &format!(
                "fragment-duration=1000000000 encryption=cenc key=00112233445566778899aabbccddeeff \
                 key-id=0123456789abcdef0123456789abcdef pssh={PSSH}"
            )
        )
    );
    let judged = judge(&run_polling(&d, &launch, 60));
    let kid = "01234567-89ab-cdef-0123-456789abcdef";
    let clearkey = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e";
    for kind in ["video", "audio"] {
        let of: Vec<&[String; 5]> = judged.protections.iter().filter(|p| p[0] == kind).collect();
        assert_eq!(of.len(), 2, "{:?}", judged.protections);
        assert_eq!(
            of[0][1..4],
            ["urn:mpeg:dash:mp4protection:2011", "cenc", kid].map(String::from)
        );
        assert_eq!(of[1][1], clearkey);
        assert_eq!(of[1][4], PSSH);
    }
    // The init segments are protected (encv/enca with the same KID in tenc).
    for init in ["video_0-init.mp4", "audio_1-init.mp4"] {
        let bytes = std::fs::read(d.join(init)).unwrap();
        assert!(bytes.windows(4).any(|w| w == b"tenc"), "{init}");
        let raw_kid = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        assert!(bytes.windows(8).any(|w| w == raw_kid), "{init}: KID");
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn impossible_settings_are_refused_before_the_first_byte() {
    let d = dir("refused");
    let err = support::pipeline::refused(
        &format!(
            "{VIDEO} ! {}",
            sink(&d, "fragment-duration=1000000000 chunk-duration=1000000000")
        ),
        gst::State::Paused,
    );
    assert!(err.contains("chunk-duration"), "{err}");
    let missing = d.join("missing");
    let err = support::pipeline::refused(
        &format!("{VIDEO} ! fragmp4dashsink location={}", missing.display()),
        gst::State::Paused,
    );
    assert!(err.contains("not a directory"), "{err}");
    for props in [
        "single-file=true segment-addressing=number",
        "single-file=true segment-addressing=time",
        "single-file=true playlist-length=3",
        "single-file=true http-port=0",
    ] {
        let err = support::pipeline::refused(
            &format!("{VIDEO} ! {}", sink(&d, props)),
            gst::State::Paused,
        );
        assert!(err.contains("single-file=true"), "{props}: {err}");
    }
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "nothing written");
    let _ = std::fs::remove_dir_all(d);
}

/// Decodes a chunked transfer body; returns the data and the number of chunks.
fn dechunk(mut body: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut chunks = 0;
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .expect("hex chunk size");
        body = &body[line_end + 2..];
        if size == 0 {
            return (out, chunks);
        }
        out.extend_from_slice(&body[..size]);
        chunks += 1;
        body = &body[size + 2..];
    }
}

#[test]
fn served_live_with_chunks_streams_the_growing_segment() {
    support::init();
    let launch = "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=30 tune=zerolatency speed-preset=ultrafast ! h264parse \
         ! fragmp4dashsink name=d http-port=0 http-path=live fragment-duration=1000000000 chunk-duration=200000000 \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! d.";
    let p = gst::parse::launch(launch).unwrap();
    let bin = p.downcast_ref::<gst::Bin>().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let sink = bin.by_name("d").unwrap();
    let url = sink
        .property::<Option<String>>("http-url")
        .expect("http-url from PAUSED on");
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_once('/').unwrap();
    assert_eq!(path, "live/manifest.mpd");
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    // UTCTiming source: the server's clock, as xs:dateTime.
    let time = support::http::get(addr, "/time", "");
    assert_eq!(time.status, 200);
    let year = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 31_556_952
        + 1970;
    assert!(
        time.text().starts_with(&format!("{year}-")),
        "{}",
        time.text()
    );
    // The MPD once both tracks have a segment.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mpd = loop {
        let got = support::http::get(addr, "/live/manifest.mpd", "");
        if got.status == 200 {
            break got;
        }
        assert!(Instant::now() < deadline, "no MPD served");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(mpd.header("content-type"), Some("application/dash+xml"));
    assert_eq!(mpd.header("cache-control"), Some("no-cache"));
    let text = mpd.text();
    assert!(text.contains(&format!(
        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"http://{addr}/time\"/>"
    )), "{text}");
    assert!(text.contains("availabilityTimeOffset=\"0.8\" availabilityTimeComplete=\"false\""));
    assert!(text.contains("<Latency target=\"600\""), "{text}");
    assert!(text.contains("<ProducerReferenceTime"));
    // The last segment listed is being written (low latency announces it): it is
    // streamed as it grows.
    let start: u64 = {
        let at = text.find("startNumber=\"").unwrap() + 13;
        text[at..at + text[at..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    let video_set = &text[..text.find("</AdaptationSet>").unwrap()];
    let listed: u64 = video_set
        .split("<S ")
        .skip(1)
        .map(|s| {
            let s = &s[..s.find("/>").unwrap()];
            s.find(" r=\"").map_or(1, |at| {
                let r = &s[at + 4..];
                r[..r.find('"').unwrap()].parse::<u64>().unwrap() + 1
            })
        })
        .sum();
    let growing = format!("/live/video_0-{:05}.m4s", start + listed - 1);
    let began = Instant::now();
    let got = support::http::get(addr, &growing, "");
    let took = began.elapsed();
    assert_eq!(got.status, 200, "{growing} in {text}");
    assert_eq!(
        got.header("transfer-encoding"),
        Some("chunked"),
        "{growing}"
    );
    let (bytes, pieces) = dechunk(&got.body);
    let init = support::http::get(addr, "/live/video_0-init.mp4", "");
    assert_eq!(init.status, 200);
    let m = mp4::parse(&[init.body, bytes].concat());
    assert!(m.chunks.len() >= 3, "CMAF chunks: {}", m.chunks.len());
    assert!(pieces >= 3, "sent in {pieces} pieces");
    assert!(took > Duration::from_millis(300), "streamed over {took:?}");
    let samples = &m.samples.values().next().unwrap();
    assert!(samples[0].is_sync());
    p.set_state(gst::State::Null).unwrap();
}

/// `meta_%u` pads go into the video's muxer: its segments carry the `emsg`s, and its
/// AdaptationSet (only it) has an `InbandEventStream` per scheme, as mpegdash reads them.
#[test]
fn meta_pads_give_inband_event_streams_on_the_video() {
    use gstfragmp4::events::{ID3_SCHEME, SCTE35_SCHEME, id3, scte35};
    let d = dir("events");
    let launch = format!(
        "{VIDEO} ! {} {AUDIO} ! d. \
         appsrc name=scte format=time caps=application/x-scte35 ! d.meta_0 \
         appsrc name=id3 format=time caps=meta/x-id3 ! d.meta_1",
        sink(&d, "fragment-duration=1000000000")
    );
    let section = scte35::splice_insert_section(5, 0, Some(90_000));
    let tag = id3::txxx_tag("title", "a song");
    let sent = [
        (section.clone(), "scte", 1500u64),
        (tag.clone(), "id3", 500),
    ];
    let snapshots = run_polling_with(&d, &launch, 60, |p| {
        let bin = p.downcast_ref::<gst::Bin>().unwrap();
        for (data, name, ms) in &sent {
            let src = bin
                .by_name(name)
                .unwrap()
                .downcast::<gst_app::AppSrc>()
                .unwrap();
            let mut b = gst::Buffer::from_mut_slice(data.clone());
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(*ms));
            src.push_buffer(b).unwrap();
            let _ = src.end_of_stream();
        }
    });
    let judged = judge(&snapshots);
    let mut events = judged.events.clone();
    events.sort();
    assert_eq!(
        events,
        vec![
            ["video".to_string(), ID3_SCHEME.into(), "-".into()],
            ["video".to_string(), SCTE35_SCHEME.into(), "-".into()],
        ]
    );
    // The emsgs in the video's segments, none in the audio's (mp4-atom reads them).
    let emsgs = |id: &str| -> Vec<mp4_atom::Emsg> {
        use mp4_atom::Decode;
        let rep = &judged.reps[id];
        let mut out = Vec::new();
        for (name, _, _) in &rep.segments {
            let data = std::fs::read(d.join(name)).unwrap();
            for (kind, at, size) in mp4::top_level_boxes(&data) {
                if kind == "emsg" {
                    let any = mp4_atom::Any::decode(&mut &data[at..at + size]).unwrap();
                    out.push(mp4_atom::Emsg::try_from(any).unwrap());
                }
            }
        }
        out
    };
    let video = emsgs("video_0");
    assert_eq!(video.len(), 2, "{video:?}");
    assert!(
        video
            .iter()
            .any(|e| e.scheme_id_uri == SCTE35_SCHEME && e.message_data == section)
    );
    assert!(
        video
            .iter()
            .any(|e| e.scheme_id_uri == ID3_SCHEME && e.message_data == tag)
    );
    assert!(emsgs("audio_1").is_empty());
    let _ = std::fs::remove_dir_all(d);
}
