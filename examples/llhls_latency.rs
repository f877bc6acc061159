//! End-to-end latency of LL-HLS parts: a live pipeline (videotestsrc is-live, x264enc
//! zerolatency, AAC) into `fragmp4hlssink part-duration=200 ms http-port=0`, followed by
//! a client that asks for each next part with a blocking reload. For every answer it
//! takes the newest part the playlist lists, maps its end to wall time through
//! EXT-X-PROGRAM-DATE-TIME (running time -> UTC, sampled when the pipeline started) and
//! reports how long after its last frame was captured the entry was served.
//!
//!   cargo run --release --example llhls_latency -- [seconds]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gst::prelude::*;

const FRAME_MS: f64 = 1000.0 / 30.0;

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn parse_pdt(s: &str) -> Option<f64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi) = (num(11..13)?, num(14..16)?);
    let sec: f64 = s.get(17..)?.trim_end_matches('Z').parse().ok()?;
    // Days from the civil date (proleptic Gregorian).
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60) as f64 + sec) * 1000.0)
}

/// Wall time (ms since the epoch) at which the newest listed part ends.
fn newest_part_end(playlist: &str) -> Option<f64> {
    let mut t = None;
    let mut end = None;
    for l in playlist.lines() {
        if let Some(v) = l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            t = parse_pdt(v);
        } else if let Some(v) = l.strip_prefix("#EXT-X-PART:") {
            let d: f64 = v
                .split(',')
                .find_map(|f| f.strip_prefix("DURATION="))?
                .parse()
                .ok()?;
            if let Some(x) = t.as_mut() {
                *x += d * 1000.0;
                end = Some(*x);
            }
        }
    }
    end
}

/// The next part `(msn, part)` from the preload hint `segmentNNNNN.K.m4s`.
fn hinted(playlist: &str) -> Option<(u64, u64)> {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))?;
    let uri = line.split("URI=\"").nth(1)?.split('"').next()?;
    let stem = uri
        .rsplit('/')
        .next()?
        .strip_prefix("segment")?
        .strip_suffix(".m4s")?;
    let (m, p) = stem.split_once('.')?;
    Some((m.parse().ok()?, p.parse().ok()?))
}

fn get(addr: SocketAddr, target: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string())
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    gst::init().expect("gstreamer");
    gstfragmp4::plugin_register_static().expect("plugin");
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! h.video_0 \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000 ! avenc_aac ! h.audio_0 \
         fragmp4hlssink name=h target-duration=1 part-duration=200000000 http-port=0 http-path=live",
    )
    .expect("pipeline");
    pipeline.set_state(gst::State::Playing).expect("playing");
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("h")
        .unwrap();
    let url = sink
        .property::<Option<String>>("http-url")
        .expect("http-url");
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let addr: SocketAddr = addr.parse().unwrap();

    let start = Instant::now();
    let mut playlist = String::new();
    while hinted(&playlist).is_none() && start.elapsed() < Duration::from_secs(10) {
        playlist = get(addr, path);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Two seconds to settle, then measure.
    let mut latencies = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds + 2) {
        let Some((msn, part)) = hinted(&playlist) else {
            break;
        };
        playlist = get(addr, &format!("{path}?_HLS_msn={msn}&_HLS_part={part}"));
        let served = now_ms();
        if start.elapsed() < Duration::from_secs(2) {
            continue;
        }
        if let Some(end) = newest_part_end(&playlist) {
            latencies.push(served - (end - FRAME_MS));
        }
    }
    pipeline.set_state(gst::State::Null).expect("null");
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pick = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "LL-HLS part entries served after their last frame was captured ({} parts over {} s):",
        latencies.len(),
        seconds
    );
    println!(
        "  p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        pick(0.5),
        pick(0.95),
        latencies.last().copied().unwrap_or(0.0)
    );
}
