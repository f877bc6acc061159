//! Low-Latency HLS through the element: live pipelines (live sources, x264enc, AAC) into
//! `fragmp4hlssink part-duration=… http-port=…`, read over HTTP on 127.0.0.1 by a raw
//! HTTP/1.1 client, every playlist served judged by the independent parser (PyPI `m3u8`,
//! tests/hls_playlists.py).

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gst::prelude::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fragmp4-hls-ll-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const VIDEO: &str = "videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=30/1 \
     ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast";
const AUDIO: &str = "audiotestsrc is-live=true ! audio/x-raw,rate=48000 ! avenc_aac";

/// A playing pipeline with one sink `h`, and the sink's playlist URL.
struct Live {
    pipeline: gst::Pipeline,
    addr: SocketAddr,
    /// The playlist's path on the server.
    path: String,
}

fn start(launch: &str) -> Live {
    support::init();
    let pipeline = gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let sink = pipeline.by_name("h").unwrap();
    let url = sink
        .property::<Option<String>>("http-url")
        .expect("http-url from PAUSED on");
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    Live {
        pipeline,
        addr: addr.parse().unwrap(),
        path: path.to_string(),
    }
}

fn av_sink(props: &str) -> String {
    format!(
        "{VIDEO} ! h.video_0 {AUDIO} ! h.audio_0 fragmp4hlssink name=h target-duration=1 \
         part-duration=200000000 http-port=0 http-path=live {props}"
    )
}

use support::http::{Got, get};

/// `(msn, part)` of the preload hint `segmentNNNNN.K.m4s`, or of the segment file with
/// byteranges (then the part is counted from the listed parts of that segment).
fn hinted(playlist: &str) -> Option<(u64, u64, String)> {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?.to_string();
    let stem = uri.strip_prefix("segment")?.strip_suffix(".m4s")?;
    let (msn, part) = match stem.split_once('.') {
        Some((m, p)) => (m.parse().ok()?, p.parse().ok()?),
        None => {
            let parts = playlist
                .lines()
                .filter(|l| l.starts_with("#EXT-X-PART:") && l.contains(&uri))
                .count();
            (stem.parse().ok()?, parts as u64)
        }
    };
    Some((msn, part, line.to_string()))
}

/// The first playlist with a part, polled for (the stream needs a moment to start).
fn first_playlist(live: &Live) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let got = get(live.addr, &live.path, "");
        if got.status == 200 && hinted(&got.text()).is_some() {
            return got.text();
        }
        assert!(Instant::now() < until, "no playlist with parts in 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Follows the live playlist with blocking reloads for the next part for `seconds`,
/// saving every answer; checks each is answered only once the part is listed.
fn follow(live: &Live, d: &Path, seconds: u64, snapshots: &mut Vec<PathBuf>) -> String {
    let mut text = first_playlist(live);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut held = 0;
    let mut answers = 0;
    while Instant::now() < until {
        let (msn, part, _) = hinted(&text).unwrap_or_else(|| panic!("no hint in\n{text}"));
        let asked = Instant::now();
        let got = get(
            live.addr,
            &format!("{}?_HLS_msn={msn}&_HLS_part={part}", live.path),
            "",
        );
        assert_eq!(got.status, 200, "{}", got.text());
        assert!(
            got.header("cache-control")
                .is_some_and(|c| c.contains("max-age=6")),
            "blocked reloads are cacheable by URL: {:?}",
            got.header("cache-control")
        );
        if asked.elapsed() > Duration::from_millis(50) {
            held += 1;
        }
        let next = got.text();
        // The part asked for (or the next segment's first) is now listed.
        let (m2, p2, _) = hinted(&next).unwrap();
        assert!(
            (m2, p2) > (msn, part),
            "answered before part {msn}.{part} was listed:\n{next}"
        );
        let path = d.join(format!("snapshot-{:04}.m3u8", snapshots.len()));
        std::fs::write(&path, &next).unwrap();
        snapshots.push(path);
        text = next;
        answers += 1;
    }
    assert!(
        answers >= 4 * seconds as usize,
        "{answers} answers in {seconds} s"
    );
    assert!(
        held * 2 > answers,
        "blocking reloads were held until the part appeared: {held} of {answers}"
    );
    // Everything listed can be downloaded.
    let prefix = live.path.rsplit_once('/').unwrap().0;
    let mut listed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:") || l.starts_with("#EXT-X-MAP:"))
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .collect();
    listed.extend(
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#')),
    );
    listed.sort_unstable();
    listed.dedup();
    assert!(listed.len() > 3, "{text}");
    for uri in listed {
        let got = get(live.addr, &format!("{prefix}/{uri}"), "");
        assert_eq!(
            got.status, 200,
            "{uri} is listed but answers {}",
            got.status
        );
    }
    text
}

/// Runs tests/hls_playlists.py on the snapshots; panics with its findings.
fn judge(snapshots: &[PathBuf]) -> String {
    let script = format!("{}/tests/hls_playlists.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&script)
        .args(snapshots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} playlists violate RFC 8216bis:\n{stdout}{}\nlast one:\n{}",
        snapshots.len(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(snapshots.last().unwrap()).unwrap_or_default()
    );
    stdout
}

/// Sends EOS while a request waits for a segment that will never come; returns it.
fn eos_releases_a_held_request(live: &Live, text: &str) -> Got {
    let (msn, _, _) = hinted(text).unwrap();
    let (addr, target) = (live.addr, format!("{}?_HLS_msn={}", live.path, msn + 1));
    let waiting = std::thread::spawn(move || {
        let t = Instant::now();
        (get(addr, &target, ""), t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    live.pipeline.send_event(gst::event::Eos::new());
    let bus = live.pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{} ({:?})", e.error(), e.debug());
    }
    let (got, waited) = waiting.join().unwrap();
    assert!(waited < Duration::from_secs(3), "held {waited:?} after EOS");
    assert_eq!(got.status, 200);
    assert!(got.text().ends_with("#EXT-X-ENDLIST\n"), "{}", got.text());
    // Afterwards the directives are ignored.
    let later = get(live.addr, &format!("{}?_HLS_msn=999", live.path), "");
    assert_eq!(later.status, 200);
    got
}

/// The sink's server is gone at NULL: its port can be bound again.
fn stop_and_check_port(live: Live) {
    live.pipeline.set_state(gst::State::Null).unwrap();
    TcpListener::bind(live.addr).expect("the port is free at NULL");
}

#[test]
fn ll_hls_parts_blocking_reload_and_eos_through_the_element() {
    let d = dir("parts");
    let live = start(&av_sink(""));
    let mut snapshots = Vec::new();
    let text = follow(&live, &d, 7, &mut snapshots);
    // The hinted part is held until complete, then sent whole.
    let (_, _, hint) = hinted(&text).unwrap();
    let uri = hint
        .split("URI=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let prefix = live.path.rsplit_once('/').unwrap().0.to_string();
    let part = get(live.addr, &format!("{prefix}/{uri}"), "");
    assert_eq!(part.status, 200);
    assert_eq!(&part.body[4..8], b"moof", "a part is a moof+mdat chunk");
    assert!(
        part.header("cache-control")
            .is_some_and(|c| c.contains("immutable"))
    );
    assert_eq!(part.header("content-type"), Some("video/iso.segment"));
    let plain = get(live.addr, &live.path, "");
    assert_eq!(
        plain.header("cache-control"),
        Some("public, max-age=0"),
        "media playlists are short-lived"
    );
    assert_eq!(plain.header("access-control-allow-origin"), Some("*"));
    // A delta update once there is enough to skip: parsed like the others.
    let delta = get(live.addr, &format!("{}?_HLS_skip=YES", live.path), "");
    assert!(
        delta.text().contains("#EXT-X-SKIP:SKIPPED-SEGMENTS="),
        "{}",
        delta.text()
    );
    let full = plain.text();
    assert!(delta.body.len() < full.len());
    let p = d.join("delta.m3u8");
    std::fs::write(&p, &delta.body).unwrap();
    snapshots.push(p);
    // Bad directives.
    assert_eq!(
        get(live.addr, &format!("{}?_HLS_part=1", live.path), "").status,
        400
    );
    assert_eq!(
        get(live.addr, &format!("{}?_HLS_msn=9999", live.path), "").status,
        400
    );
    let last = eos_releases_a_held_request(&live, &full);
    let p = d.join("final.m3u8");
    std::fs::write(&p, &last.body).unwrap();
    snapshots.push(p);
    judge(&snapshots);
    stop_and_check_port(live);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn ll_hls_parts_as_byteranges_of_the_segment() {
    let d = dir("ranges");
    let live = start(&av_sink("part-byteranges=true"));
    let mut snapshots = Vec::new();
    let text = follow(&live, &d, 4, &mut snapshots);
    let prefix = live.path.rsplit_once('/').unwrap().0.to_string();
    // A listed part: its range of the segment file.
    let line = text
        .lines()
        .rfind(|l| l.starts_with("#EXT-X-PART:"))
        .unwrap();
    assert!(line.contains("BYTERANGE=\""), "{line}");
    let uri = line
        .split("URI=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let range = line
        .split("BYTERANGE=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (len, offset) = range.split_once('@').unwrap();
    let (len, offset): (u64, u64) = (len.parse().unwrap(), offset.parse().unwrap());
    let got = get(
        live.addr,
        &format!("{prefix}/{uri}"),
        &format!("Range: bytes={offset}-{}\r\n", offset + len - 1),
    );
    assert_eq!(got.status, 206);
    assert_eq!(got.body.len() as u64, len);
    assert_eq!(&got.body[4..8], b"moof");
    // The hinted range: held until its bytes are there.
    let (_, _, hint) = hinted(&text).unwrap();
    let start: u64 = hint
        .split("BYTERANGE-START=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let huri = hint
        .split("URI=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let got = get(
        live.addr,
        &format!("{prefix}/{huri}"),
        &format!("Range: bytes={start}-\r\n"),
    );
    assert_eq!(got.status, 206);
    assert_eq!(&got.body[4..8], b"moof", "the next part, whole");
    let last = eos_releases_a_held_request(&live, &text);
    let p = d.join("final.m3u8");
    std::fs::write(&p, &last.body).unwrap();
    snapshots.push(p);
    judge(&snapshots);
    stop_and_check_port(live);
    let _ = std::fs::remove_dir_all(d);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_sinks_on_one_port_are_two_renditions_of_one_multivariant() {
    let port = free_port();
    let sink = |name: &str, kbps: u32| {
        format!(
            "t. ! queue ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast \
             bitrate={kbps} ! {name}.video_0 fragmp4hlssink name={name} target-duration=1 \
             part-duration=200000000 http-port={port} http-path={name}"
        )
    };
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=30/1 ! tee name=t \
         {} {}",
        sink("h", 600),
        sink("lo", 150)
    );
    let live = start(&launch);
    std::thread::sleep(Duration::from_secs(3));
    let hi = get(live.addr, "/h/playlist.m3u8", "");
    let lo = get(live.addr, "/lo/playlist.m3u8", "");
    assert_eq!((hi.status, lo.status), (200, 200));
    assert!(
        hi.text()
            .contains("#EXT-X-RENDITION-REPORT:URI=\"/lo/playlist.m3u8\",LAST-MSN="),
        "{}",
        hi.text()
    );
    assert!(
        lo.text()
            .contains("#EXT-X-RENDITION-REPORT:URI=\"/h/playlist.m3u8\"")
    );
    let control = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL"))
            .map(str::to_string)
    };
    assert_eq!(control(&hi.text()), control(&lo.text()));
    let multivariant = get(live.addr, "/h/multivariant.m3u8", "");
    assert_eq!(multivariant.status, 200);
    let d = dir("renditions");
    let path = d.join("multivariant.m3u8");
    std::fs::write(&path, &multivariant.body).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import m3u8,sys\n\
             p=m3u8.load(sys.argv[1])\n\
             for v in p.playlists:\n\
             \x20 s=v.stream_info\n\
             \x20 print(v.uri, s.bandwidth, s.codecs, s.resolution)",
        )
        .arg(&path)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "{listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bandwidths = Vec::new();
    for (line, uri) in lines.iter().zip(["/h/playlist.m3u8", "/lo/playlist.m3u8"]) {
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(w[0], uri);
        bandwidths.push(w[1].parse::<u64>().unwrap());
        assert!(w[2].starts_with("avc1."), "{line}");
        assert!(line.ends_with("(320, 180)"), "{line}");
    }
    assert!(
        bandwidths[0] > bandwidths[1],
        "the 600 kbit/s rendition is the larger: {bandwidths:?}"
    );
    stop_and_check_port(live);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn a_port_in_use_is_an_element_error_naming_the_address() {
    support::init();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let launch = format!(
        "{VIDEO} ! h.video_0 fragmp4hlssink name=h part-duration=200000000 http-port={port}"
    );
    let p = gst::parse::launch(&launch).unwrap();
    assert!(p.set_state(gst::State::Playing).is_err());
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    assert!(
        e.error().to_string().contains(&format!("127.0.0.1:{port}")),
        "{}",
        e.error()
    );
    p.set_state(gst::State::Null).unwrap();
}

#[test]
fn ll_hls_parts_written_as_files_without_a_server() {
    support::init();
    let d = dir("files");
    // 2.5 s of live video.
    let video = VIDEO.replacen("is-live=true", "is-live=true num-buffers=75", 1);
    let launch = format!(
        "{video} ! h.video_0 fragmp4hlssink name=h target-duration=1 \
         part-duration=200000000 location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8",
        d.display()
    );
    let p = gst::parse::launch(&launch).unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let sink = p.downcast_ref::<gst::Bin>().unwrap().by_name("h").unwrap();
    assert_eq!(sink.property::<Option<String>>("http-url"), None);
    let playlist = d.join("playlist.m3u8");
    let mut last = String::new();
    let mut snapshots = Vec::new();
    let bus = p.bus().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(&playlist)
            && text != last
        {
            let path = d.join(format!("snapshot-{:04}.m3u8", snapshots.len()));
            std::fs::write(&path, &text).unwrap();
            snapshots.push(path);
            last = text;
        }
        if last.contains("#EXT-X-ENDLIST") {
            break;
        }
        if let Some(msg) =
            bus.timed_pop_filtered(gst::ClockTime::from_mseconds(5), &[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = msg.view()
        {
            panic!("{} ({:?})", e.error(), e.debug());
        }
        assert!(Instant::now() < until, "no ENDLIST in 20 s");
    }
    p.set_state(gst::State::Null).unwrap();
    assert!(
        snapshots.len() > 8,
        "a playlist per part: {}",
        snapshots.len()
    );
    let judged = judge(&snapshots);
    assert!(judged.contains("segment 2 seg00002.m4s"), "{judged}");
    // Every part listed is a file of its own, a moof+mdat chunk.
    let parts: Vec<&str> = last
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .collect();
    assert!(!parts.is_empty());
    for part in parts {
        let bytes = std::fs::read(d.join(part)).unwrap();
        assert_eq!(&bytes[4..8], b"moof", "{part}");
    }
    let _ = std::fs::remove_dir_all(d);
}

/// Runs a files-only LL pipeline to EOS with the encoded video held up once for
/// `stall_ms` at frame 40 (an encoder or a CPU falling behind), returning the EXTINFs.
fn run_with_a_stalled_encoder(d: &Path, stall_ms: u64) -> Vec<String> {
    support::init();
    let launch = format!(
        "videotestsrc is-live=true num-buffers=150 ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! identity name=late \
         ! h.video_0 audiotestsrc is-live=true num-buffers=235 ! audio/x-raw,rate=48000 \
         ! avenc_aac ! h.audio_0 fragmp4hlssink name=h target-duration=1 \
         part-duration=200000000 location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8",
        d.display()
    );
    let p = gst::parse::launch(&launch).unwrap();
    let late = p
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("late")
        .unwrap();
    let frames = std::sync::atomic::AtomicU32::new(0);
    late.static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 40 {
                std::thread::sleep(Duration::from_millis(stall_ms));
            }
            gst::PadProbeReturn::Ok
        });
    p.set_state(gst::State::Playing).unwrap();
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{} ({:?})", e.error(), e.debug());
    }
    p.set_state(gst::State::Null).unwrap();
    let text = std::fs::read_to_string(d.join("playlist.m3u8")).unwrap();
    judge(&[d.join("playlist.m3u8")]);
    text.lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_late_encoder_does_not_cut_parts_or_segments_short() {
    // Held up 400 ms, two parts: within PART-HOLD-BACK (600 ms), the muxer waits.
    let d = dir("late");
    let extinfs = run_with_a_stalled_encoder(&d, 400);
    // 5 s of 30 fps video in 1 s segments (the audio runs a little longer).
    assert!(extinfs.len() >= 5, "{extinfs:?}");
    for e in &extinfs[..4] {
        assert_eq!(e, "1.000000,", "{extinfs:?}");
    }
    let _ = std::fs::remove_dir_all(d);
}
