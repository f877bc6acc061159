//! Glass-to-subscriber latency and CPU per frame of MoQ publishing, on one machine:
//! a relay (moq-relay, embedded) on 127.0.0.1, a live 30 fps H.264 pipeline
//! (videotestsrc is-live, x264enc zerolatency, 320x240), and a subscriber (the moq-dev
//! consumer) in this process. A frame's latency runs from its capture running time (its
//! PTS on the pipeline clock) to the instant its MoQ frame reached the subscriber.
//!
//! Two publishers in the same run, one after the other:
//! - `fragmp4moqsink` (in-process);
//! - `fragmp4mux ! fdsink` piped into `moq ... import fmp4` (moq-cli), when `MOQ_CLI`
//!   names that binary (`cargo install moq-cli`); its CPU is the child's.
//!
//!   cargo run --release --example moq_latency -- [seconds]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use mp4_atom::DecodeMaybe;

const FPS: u64 = 30;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// CPU seconds (user + system) of this process and of its waited-for children.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is field 14 overall.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let tick = 100.0; // CLK_TCK on Linux
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0) / tick;
    // rest[0] is the state (field 3), so field n is rest[n - 3].
    (get(11) + get(12), get(13) + get(14))
}

/// The first sample's decode time in a `moof`+`mdat` chunk.
fn decode_time(chunk: &[u8]) -> Option<u64> {
    let mut cursor = std::io::Cursor::new(chunk);
    while let Ok(Some(atom)) = mp4_atom::Any::decode_maybe(&mut cursor) {
        if let mp4_atom::Any::Moof(moof) = atom {
            return moof
                .traf
                .first()?
                .tfdt
                .as_ref()
                .map(|t| t.base_media_decode_time);
        }
    }
    None
}

/// Arrival instants of the video frames of `broadcast`, by frame index from the first.
async fn subscribe(url: String, broadcast: String, out: Arc<Mutex<HashMap<u64, Instant>>>) {
    let mut config = moq_tokio::connect::Config::default();
    config.tls.insecure = Some(true);
    config.bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    let client = config.init(Default::default()).expect("client");
    let origin = moq_tokio::origin::spawn();
    let consumer = origin.consume();
    let _connection = client
        .with_subscriber(origin)
        .connect(url.parse::<url::Url>().expect("url"));
    let mut announced = consumer.announced();
    while let Some(update) = announced.next().await {
        if !update.kind.is_active() || update.prefix.as_str() != broadcast {
            continue;
        }
        let Ok(bc) = consumer.request_broadcast(&update.prefix).await else {
            continue;
        };
        let Ok(track) = bc.track(hang::Catalog::DEFAULT_NAME) else {
            continue;
        };
        let Ok(track) = track.subscribe(hang::Catalog::default_subscription()).await else {
            continue;
        };
        let mut catalog = moq_mux::catalog::hang::Consumer::<()>::new(track);
        let Ok(Some(info)) = catalog.next().await else {
            continue;
        };
        let Some(name) = info.video.renditions.keys().next() else {
            continue;
        };
        // fragmp4mux's video timescale for 30 fps (README: pad `timescale`).
        let timescale = 90_000;
        let Ok(track) = bc.track(name) else { continue };
        let Ok(mut track) = track.subscribe(None).await else {
            continue;
        };
        let mut first = None;
        while let Ok(Some(mut group)) = track.recv_group().await {
            while let Ok(Some(frame)) = group.read_frame().await {
                let at = Instant::now();
                let Some(dt) = decode_time(&frame.payload) else {
                    continue;
                };
                let first = *first.get_or_insert(dt);
                let index = (dt.saturating_sub(first) * FPS + timescale / 2) / timescale;
                out.lock().unwrap().insert(index, at);
            }
        }
    }
}

struct Result {
    frames: usize,
    p50: f64,
    p95: f64,
    max: f64,
    cpu_ms_per_frame: f64,
}

/// Runs `launch` (its live source named `src`) for `seconds`, with a subscriber on
/// `broadcast`; `stopped` runs once the pipeline is back in NULL (to wait for a
/// publisher process fed by it, whose CPU then counts).
fn measure(
    rt: &tokio::runtime::Runtime,
    url: &str,
    broadcast: &str,
    launch: &str,
    seconds: u64,
    stopped: impl FnOnce(),
) -> Result {
    let arrivals = Arc::new(Mutex::new(HashMap::new()));
    let sub = rt.spawn(subscribe(
        url.to_string(),
        broadcast.to_string(),
        arrivals.clone(),
    ));
    std::thread::sleep(Duration::from_millis(300));
    let pipeline = gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    // Capture instants: the PTS on the pipeline clock, mapped to Instant.
    let captures = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let src_pad = pipeline
        .by_name("src")
        .and_then(|s| s.static_pad("src"))
        .expect("src pad");
    let caps = captures.clone();
    let weak = pipeline.downgrade();
    src_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let now = Instant::now();
        if let (Some(p), Some(gst::PadProbeData::Buffer(b))) = (weak.upgrade(), &info.data)
            && let (Some(clock), Some(base), Some(pts)) = (p.clock(), p.base_time(), b.pts())
        {
            let ahead =
                (clock.time().nseconds() as i128) - (base.nseconds() + pts.nseconds()) as i128;
            let at = if ahead >= 0 {
                now - Duration::from_nanos(ahead as u64)
            } else {
                now + Duration::from_nanos((-ahead) as u64)
            };
            caps.lock().unwrap().push(at);
        }
        gst::PadProbeReturn::Ok
    });
    let (cpu0, child0) = cpu_seconds();
    pipeline.set_state(gst::State::Playing).expect("playing");
    let bus = pipeline.bus().expect("bus");
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    for msg in bus.iter_timed(gst::ClockTime::from_mseconds(100)) {
        if Instant::now() > deadline {
            break;
        }
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{launch}: {} {:?}", e.error(), e.debug()),
            _ => {}
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    pipeline.set_state(gst::State::Null).expect("null");
    stopped();
    let (cpu1, child1) = cpu_seconds();
    sub.abort();
    let captures = captures.lock().unwrap().clone();
    let arrivals = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<f64> = captures
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let a = arrivals.get(&(i as u64))?;
            Some(a.saturating_duration_since(*c).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let cpu = (cpu1 - cpu0) + (child1 - child0);
    Result {
        frames: latencies.len(),
        p50: pct(0.5),
        p95: pct(0.95),
        max: pct(1.0),
        cpu_ms_per_frame: cpu * 1000.0 / captures.len().max(1) as f64,
    }
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    gst::init().expect("gstreamer");
    gstfragmp4::plugin_register_static().expect("plugin");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let relay_rt = runtime();
    let mut config = moq_relay::Config::default();
    config.listen.bind = Some(moq_tokio::listen::Bind::Addr(SocketAddr::from((
        [127, 0, 0, 1],
        0,
    ))));
    config.listen.tls.generate = vec!["localhost".into()];
    config.auth.public = vec![moq_auth::Pattern::all()];
    let relay = relay_rt
        .block_on(moq_relay::Relay::load(config))
        .expect("relay");
    let url = format!(
        "https://127.0.0.1:{}/anon",
        relay.quic_addr().expect("addr").port()
    );
    relay_rt.spawn(async move {
        let _ = relay.run().await;
    });
    let rt = runtime();

    let source = format!(
        "videotestsrc name=src is-live=true num-buffers={} pattern=ball \
         ! video/x-raw,format=I420,width=320,height=240,framerate={FPS}/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS} bitrate=500 ! h264parse",
        seconds * FPS
    );
    let ours = measure(
        &rt,
        &url,
        "sink",
        &format!(
            "{source} ! fragmp4moqsink url={url} broadcast=sink tls-disable-verify=true fragment-duration=1000000000"
        ),
        seconds,
        || {},
    );
    let report = |name: &str, r: &Result| {
        println!(
            "{name:<40} frames {:>4}  latency p50 {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms  cpu {:>5.2} ms/frame",
            r.frames, r.p50, r.p95, r.max, r.cpu_ms_per_frame
        );
    };
    println!(
        "frame duration {:.1} ms; goal p95 <= {:.1} ms",
        1000.0 / FPS as f64,
        1000.0 / FPS as f64 + 30.0
    );
    report("fragmp4moqsink", &ours);

    if let Ok(cli) = std::env::var("MOQ_CLI") {
        use std::os::fd::AsRawFd;
        let mut child = std::process::Command::new(&cli)
            .args([
                "--connect",
                &url,
                "--connect-tls-insecure",
                "import",
                "--broadcast",
                "cli",
                "fmp4",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{cli}: {e}"));
        let fd = child.stdin.as_ref().expect("stdin").as_raw_fd();
        let launch = format!(
            "{source} ! fragmp4mux separate-moof=true chunk-duration=1 fragment-duration=1000000000 \
             ! fdsink fd={fd} sync=false"
        );
        let r = measure(&rt, &url, "cli", &launch, seconds, || {
            // EOF on its stdin ends the CLI; its CPU counts once it is waited for.
            drop(child.stdin.take());
            let _ = child.wait();
        });
        report("fragmp4mux | moq import fmp4 (moq-cli)", &r);
    }
}
