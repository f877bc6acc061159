//! `fragmp4moqsink` against a real `moq-relay` (embedded as a library, listening on
//! 127.0.0.1 with a self-signed certificate) and an independent subscriber (the moq-dev
//! stack's own consumer: `hang` catalog, `moq-net` tracks), judging every frame with the
//! `mp4-atom` parser against what entered the muxer.
#![cfg(feature = "moq")]

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;
use mp4_atom::DecodeMaybe;

const TIMEOUT: Duration = Duration::from_secs(20);

/// A runtime that never blocks when dropped (a failing test must not hang on a task).
struct Rt(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for Rt {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("running")
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> Rt {
    Rt(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime"),
    ))
}

/// A relay on 127.0.0.1 (`port` 0: any), public, optionally joined to `peer`'s cluster,
/// on its own runtime: dropping that stops every task and frees the port, as a crash would.
struct Relay {
    addr: SocketAddr,
    rt: Rt,
}

/// The certificate a relay serves: one it generates (self-signed), or files signed by a CA.
enum RelayTls<'a> {
    Generated,
    Files { cert: &'a Path, key: &'a Path },
}

impl Relay {
    fn start(port: u16, peer: Option<SocketAddr>) -> Relay {
        Relay::start_with(port, peer, RelayTls::Generated)
    }

    fn start_with(port: u16, peer: Option<SocketAddr>, tls: RelayTls) -> Relay {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let rt = runtime();
        let mut config = moq_relay::Config::default();
        config.listen.bind = Some(moq_tokio::listen::Bind::Addr(SocketAddr::from((
            [127, 0, 0, 1],
            port,
        ))));
        match tls {
            RelayTls::Generated => config.listen.tls.generate = vec!["localhost".into()],
            RelayTls::Files { cert, key } => {
                config.listen.tls.cert = vec![cert.to_path_buf()];
                config.listen.tls.key = vec![key.to_path_buf()];
            }
        }
        config.auth.public = vec![moq_auth::Pattern::all()];
        config.connect.bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.connect.tls.insecure = Some(true);
        config.cluster.id = Some(u64::from(peer.is_some()) + 1);
        if let Some(peer) = peer {
            config.cluster.connect = vec![moq_relay::cluster::Peer::new(format!(
                "https://127.0.0.1:{}/",
                peer.port()
            ))];
        }
        let relay = rt
            .block_on(moq_relay::Relay::load(config))
            .expect("relay loads");
        let addr = relay.quic_addr().expect("relay QUIC address");
        rt.spawn(async move {
            let _ = relay.run().await;
        });
        Relay { addr, rt }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/anon", self.addr.port())
    }

    fn stop(self) {
        drop(self.rt);
        // Let the sockets go before the port is reused.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One frame as the subscriber received it.
#[derive(Debug, Clone)]
struct Received {
    group: u64,
    payload: Vec<u8>,
    at: Instant,
}

#[derive(Debug, Default)]
struct Subscribed {
    /// rendition name -> codec string, from the catalog.
    video: BTreeMap<String, String>,
    audio: BTreeMap<String, String>,
    /// track name -> frames in arrival order.
    frames: BTreeMap<String, Vec<Received>>,
}

/// Subscribes to `broadcast` through the relay at `url` (reconnecting with the relay)
/// and records the catalog and every frame of every track into `out`.
async fn subscribe(url: String, broadcast: String, out: Arc<Mutex<Subscribed>>) {
    let mut config = moq_tokio::connect::Config::default();
    config.tls.insecure = Some(true);
    config.bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.backoff.timeout = Duration::ZERO;
    let mut quic = moq_tokio::quic::Config::default();
    // Notice a relay that vanished within a few seconds.
    quic.idle_timeout = Duration::from_secs(3);
    quic.keep_alive = Duration::from_secs(1);
    let client = config.init(quic).expect("subscriber client");
    let origin = moq_tokio::origin::spawn();
    let consumer = origin.consume();
    let _connection = client
        .with_subscriber(origin)
        .connect(url.parse::<url::Url>().expect("url"));
    let mut announced = consumer.announced();
    let mut readers = Vec::new();
    while let Some(update) = announced.next().await {
        if !update.kind.is_active() || update.prefix.as_str() != broadcast {
            continue;
        }
        // Each step that fails is told (test output shows it on a failure).
        let bc = match consumer.request_broadcast(&update.prefix).await {
            Ok(bc) => bc,
            Err(e) => {
                eprintln!("subscriber: broadcast {broadcast}: {e}");
                continue;
            }
        };
        let track = match bc.track(hang::Catalog::DEFAULT_NAME) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("subscriber: catalog track: {e}");
                continue;
            }
        };
        let track = match track.subscribe(hang::Catalog::default_subscription()).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("subscriber: catalog subscription: {e}");
                continue;
            }
        };
        let mut catalog = moq_mux::catalog::hang::Consumer::<()>::new(track);
        let info = match catalog.next().await {
            Ok(Some(info)) => info,
            other => {
                eprintln!("subscriber: catalog: {other:?}");
                continue;
            }
        };
        let mut names = Vec::new();
        {
            let mut o = out.lock().unwrap();
            for (name, config) in &info.video.renditions {
                o.video.insert(name.clone(), config.codec.to_string());
                names.push(name.clone());
            }
            for (name, config) in &info.audio.renditions {
                o.audio.insert(name.clone(), config.codec.to_string());
                names.push(name.clone());
            }
        }
        for name in names {
            let Ok(track) = bc.track(&name) else { continue };
            let Ok(mut track) = track.subscribe(None).await else {
                continue;
            };
            let out = out.clone();
            readers.push(tokio::spawn(async move {
                // Each group read by its own task: a newer group must not wait for an
                // older one to finish.
                while let Ok(Some(mut group)) = track.recv_group().await {
                    let sequence = group.sequence;
                    let out = out.clone();
                    let name = name.clone();
                    tokio::spawn(async move {
                        while let Ok(Some(frame)) = group.read_frame().await {
                            out.lock()
                                .unwrap()
                                .frames
                                .entry(name.clone())
                                .or_default()
                                .push(Received {
                                    group: sequence,
                                    payload: frame.payload.to_vec(),
                                    at: Instant::now(),
                                });
                        }
                    });
                }
            }));
        }
    }
}

/// One sample of a received frame (a `moof`+`mdat` chunk), as mp4-atom reads it.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    track_id: u32,
    decode_time: u64,
    composition_offset: i64,
    keyframe: bool,
    data: Vec<u8>,
}

fn samples(chunk: &[u8]) -> Vec<Sample> {
    let mut cursor = std::io::Cursor::new(chunk);
    let mut out = Vec::new();
    let mut moof: Option<mp4_atom::Moof> = None;
    while let Ok(Some(atom)) = mp4_atom::Any::decode_maybe(&mut cursor) {
        match atom {
            mp4_atom::Any::Moof(m) => moof = Some(m),
            mp4_atom::Any::Mdat(mdat) => {
                let moof = moof.take().expect("moof before mdat");
                let mut offset = 0usize;
                for traf in &moof.traf {
                    let mut dt = traf.tfdt.as_ref().map_or(0, |t| t.base_media_decode_time);
                    for trun in &traf.trun {
                        for e in trun.samples.iter() {
                            let size =
                                e.size.or(traf.tfhd.default_sample_size).expect("size") as usize;
                            let flags = e.flags.or(traf.tfhd.default_sample_flags).unwrap_or(0);
                            out.push(Sample {
                                track_id: traf.tfhd.track_id,
                                decode_time: dt,
                                composition_offset: e.cts.unwrap_or(0),
                                keyframe: flags & 0x0001_0000 == 0,
                                data: mdat.data[offset..offset + size].to_vec(),
                            });
                            offset += size;
                            dt += u64::from(
                                e.duration
                                    .or(traf.tfhd.default_sample_duration)
                                    .expect("duration"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A live 320x240 H.264 + AAC pipeline into `fragmp4moqsink name=moq`, with `seconds` of
/// media, accepting the relay's self-signed certificate.
fn pipeline(url: &str, broadcast: &str, seconds: u32, extra: &str) -> gst::Pipeline {
    verified_pipeline(
        url,
        broadcast,
        seconds,
        &format!("tls-disable-verify=true {extra}"),
    )
}

/// [`pipeline`] with certificate verification as `sink_props` set it.
fn verified_pipeline(url: &str, broadcast: &str, seconds: u32, sink_props: &str) -> gst::Pipeline {
    support::init();
    let launch = format!(
        "videotestsrc is-live=true num-buffers={v} pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=300 ! h264parse ! moq.video_0 \
         audiotestsrc is-live=true num-buffers={a} samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=2 \
           ! avenc_aac ! aacparse ! moq.audio_0 \
         fragmp4moqsink name=moq url=\"{url}\" broadcast={broadcast} fragment-duration=1000000000 {sink_props}",
        v = seconds * 30,
        a = seconds * 48000 / 1024,
    );
    gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline")
}

#[derive(Debug, Default)]
struct BusLog {
    warnings: Vec<String>,
    errors: Vec<String>,
    eos: bool,
}

/// Runs the pipeline until EOS or an error (at most `limit`), collecting warnings.
fn run_to_end(pipeline: &gst::Pipeline, limit: Duration) -> BusLog {
    pipeline.set_state(gst::State::Playing).expect("playing");
    let bus = pipeline.bus().expect("bus");
    let mut log = BusLog::default();
    let start = Instant::now();
    while start.elapsed() < limit {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                log.eos = true;
                break;
            }
            gst::MessageView::Error(e) => {
                log.errors.push(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => log.warnings.push(w.error().to_string()),
            _ => {}
        }
    }
    log
}

/// The errors and warnings waiting on the pipeline's bus (for a failure message).
fn pending_problems(pipeline: &gst::Pipeline) -> Vec<String> {
    let bus = pipeline.bus().expect("bus");
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning]))
        .map(|msg| match msg.view() {
            gst::MessageView::Error(e) => format!("error: {} ({:?})", e.error(), e.debug()),
            gst::MessageView::Warning(w) => format!("warning: {} ({:?})", w.error(), w.debug()),
            _ => String::new(),
        })
        .collect()
}

/// Waits until `f` holds on the subscription, for at most `TIMEOUT`.
fn wait_for(sub: &Arc<Mutex<Subscribed>>, f: impl Fn(&Subscribed) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < TIMEOUT {
        if f(&sub.lock().unwrap()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn frame_count(s: &Subscribed) -> usize {
    s.frames.values().map(Vec::len).sum()
}

fn sample_count(s: &Subscribed) -> usize {
    s.frames
        .values()
        .flatten()
        .map(|f| samples(&f.payload).len())
        .sum()
}

#[test]
fn publishes_every_frame_with_catalog_through_a_relay() {
    let rt = runtime();
    let relay = Relay::start(0, None);
    let sub = Arc::new(Mutex::new(Subscribed::default()));
    rt.spawn(subscribe(relay.url(), "exact".into(), sub.clone()));

    let pipeline = pipeline(&relay.url(), "exact", 3, "");
    let mux = pipeline.by_name("mux").expect("inner muxer");
    let inputs = support::pipeline::record_inputs(&mux);
    let log = run_to_end(&pipeline, Duration::from_secs(30));
    assert!(log.errors.is_empty(), "errors: {:?}", log.errors);
    assert!(log.eos, "no EOS");
    let inputs: Vec<_> = inputs.iter().map(|i| i.lock().unwrap().clone()).collect();
    let sent: usize = inputs.iter().map(|i| i.buffers.len()).sum();
    let complete = wait_for(&sub, |s| sample_count(s) >= sent);
    if !complete {
        let s = sub.lock().unwrap();
        let summary: Vec<_> = s
            .frames
            .iter()
            .map(|(n, f)| {
                (
                    n,
                    f.len(),
                    f.first().map(|r| r.group),
                    f.last().map(|r| r.group),
                )
            })
            .collect();
        panic!(
            "the subscriber got {} of {sent} samples: {summary:?}",
            sample_count(&s)
        );
    }
    let stats = pipeline
        .by_name("moq")
        .expect("sink")
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).expect("null");

    let s = sub.lock().unwrap();
    let video: Vec<_> = s.video.values().cloned().collect();
    let audio: Vec<_> = s.audio.values().cloned().collect();
    assert_eq!(video.len(), 1, "video renditions {:?}", s.video);
    // ultrafast: Constrained Baseline, level 1.3 (320x240).
    assert_eq!(video[0], "avc1.42c00d", "video codec");
    assert_eq!(audio, vec!["mp4a.40.2".to_string()]);
    assert_eq!(stats.get::<u64>("groups-dropped").unwrap(), 0);

    for input in &inputs {
        let is_video = input.pad.starts_with("video");
        let names = if is_video { &s.video } else { &s.audio };
        let name = names.keys().next().expect("rendition");
        let frames = &s.frames[name];
        // Groups in order, none missing; each opens with a keyframe.
        let groups: Vec<u64> = frames.iter().map(|f| f.group).collect();
        assert!(
            groups.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
            "{groups:?}"
        );
        let got: Vec<Sample> = frames.iter().flat_map(|f| samples(&f.payload)).collect();
        // Every buffer is a sample (h264parse flags keyframes carrying SPS/PPS HEADER).
        let want: Vec<_> = input.buffers.iter().collect();
        assert_eq!(got.len(), want.len(), "{}: samples", input.pad);
        // Per-frame chunks: one MoQ frame per video frame; audio is cut on the video's
        // timeline, so an audio frame holds the samples up to the next video frame.
        if is_video {
            assert_eq!(frames.len(), want.len(), "{}: frames", input.pad);
        } else {
            assert!(
                frames.iter().all(|f| !samples(&f.payload).is_empty()),
                "{}: an empty audio frame",
                input.pad
            );
        }
        let timescale: u64 = if is_video { 90_000 } else { 48_000 };
        let (d0, g0) = (want[0].decode_time(), got[0].decode_time);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.data, w.data, "{} sample {i}: bytes", input.pad);
            assert_eq!(g.keyframe, w.keyframe, "{} sample {i}: keyframe", input.pad);
            let want_dt =
                ((w.decode_time() - d0) as i128 * timescale as i128 / 1_000_000_000) as i64;
            let got_dt = (g.decode_time - g0) as i64;
            assert!(
                (got_dt - want_dt).abs() <= 1,
                "{} sample {i}: decode time {got_dt} vs {want_dt}",
                input.pad
            );
            let want_cts = ((w.presentation_time() - w.decode_time()) as i128 * timescale as i128
                / 1_000_000_000) as i64;
            assert!(
                (g.composition_offset - want_cts).abs() <= 1,
                "{} sample {i}: composition offset",
                input.pad
            );
        }
        // Every group starts with a keyframe; video groups are GOPs.
        for (i, f) in frames.iter().enumerate() {
            if i == 0 || f.group != frames[i - 1].group {
                assert!(
                    samples(&f.payload)[0].keyframe,
                    "{}: group {} starts on a delta",
                    input.pad,
                    f.group
                );
            }
        }
    }
    drop(s);
    relay.stop();
}

/// The relay goes away for 2 s: the sink warns (no error), redials with back-off and
/// publishes again; the subscriber sees new groups after the restart.
#[test]
fn resumes_after_a_relay_restart() {
    let rt = runtime();
    let relay = Relay::start(0, None);
    let port = relay.addr.port();
    let url = relay.url();
    let sub = Arc::new(Mutex::new(Subscribed::default()));
    rt.spawn(subscribe(url.clone(), "restart".into(), sub.clone()));

    let pipeline = pipeline(&url, "restart", 12, "");
    pipeline.set_state(gst::State::Playing).expect("playing");
    assert!(
        wait_for(&sub, |s| frame_count(s) > 30),
        "no frames before the restart: {} frames; bus: {:?}",
        frame_count(&sub.lock().unwrap()),
        pending_problems(&pipeline)
    );
    relay.stop();
    std::thread::sleep(Duration::from_secs(2));
    let restarted = Instant::now();
    let relay = Relay::start(port, None);
    let log = run_to_end(&pipeline, Duration::from_secs(30));
    let stats = pipeline
        .by_name("moq")
        .expect("sink")
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).expect("null");
    assert!(log.errors.is_empty(), "errors: {:?}", log.errors);
    assert!(log.eos, "no EOS");
    assert!(!log.warnings.is_empty(), "no warning about the lost relay");
    assert!(stats.get::<u64>("reconnects").unwrap() >= 1, "{stats}");
    assert!(
        wait_for(&sub, |s| s.frames.values().any(|f| {
            let before = f.iter().filter(|r| r.at < restarted).map(|r| r.group).max();
            f.iter()
                .any(|r| r.at > restarted && before.is_none_or(|b| r.group > b))
        })),
        "no new group after the restart"
    );
    relay.stop();
}

/// Two relays in a cluster: published to the first, subscribed from the second.
#[test]
fn a_second_relay_in_the_cluster_serves_the_broadcast() {
    let rt = runtime();
    let first = Relay::start(0, None);
    let second = Relay::start(0, Some(first.addr));
    let sub = Arc::new(Mutex::new(Subscribed::default()));
    rt.spawn(subscribe(second.url(), "cluster".into(), sub.clone()));
    // Give the second relay its link to the first.
    std::thread::sleep(Duration::from_millis(500));

    let pipeline = pipeline(&first.url(), "cluster", 6, "");
    let log = run_to_end(&pipeline, Duration::from_secs(30));
    assert!(log.errors.is_empty(), "errors: {:?}", log.errors);
    assert!(
        wait_for(&sub, |s| s.video.len() == 1
            && s.audio.len() == 1
            && s.frames.len() == 2
            && frame_count(s) > 60),
        "the second relay did not serve the broadcast: {:?}",
        sub.lock().unwrap().frames.keys().collect::<Vec<_>>()
    );
    pipeline.set_state(gst::State::Null).expect("null");
    second.stop();
    first.stop();
}

/// Sets `sink` to PLAYING alone (fed by a live source) and returns the first error on the
/// bus and how long it took; state changes must not hang.
fn first_error(props: &str, within: Duration) -> (Option<String>, Duration) {
    support::init();
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,format=I420,width=64,height=64,framerate=30/1 \
           ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! moq.video_0 \
         fragmp4moqsink name=moq {props}"
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let start = Instant::now();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().expect("bus");
    let mut error = None;
    while start.elapsed() < within {
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[gst::MessageType::Error],
        ) && let gst::MessageView::Error(e) = msg.view()
        {
            error = Some(format!("{} {:?}", e.error(), e.debug()));
            break;
        }
    }
    let took = start.elapsed();
    let stopping = Instant::now();
    pipeline.set_state(gst::State::Null).expect("null");
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "stopping took {:?}",
        stopping.elapsed()
    );
    (error, took)
}

#[test]
fn bad_configuration_is_an_element_error_in_bounded_time() {
    let (error, took) = first_error("url=not-a-url", Duration::from_secs(5));
    let error = error.expect("an error for an unparsable url");
    assert!(error.contains("not-a-url"), "{error}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let (error, _) = first_error("url=ftp://localhost/x", Duration::from_secs(5));
    assert!(error.expect("an error").contains("scheme"));

    // Nothing listens there: the first connection times out.
    let (error, took) = first_error(
        "url=https://127.0.0.1:9/anon connect-timeout=1000000000",
        Duration::from_secs(10),
    );
    let error = error.expect("an error for an unreachable relay");
    assert!(error.contains("127.0.0.1:9"), "{error}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    // A relay with a self-signed certificate, verified: refused.
    let relay = Relay::start(0, None);
    let (error, took) = first_error(
        &format!("url={} connect-timeout=3000000000", relay.url()),
        Duration::from_secs(10),
    );
    let error = error.expect("an error for a refused certificate");
    assert!(error.contains("cannot connect"), "{error}");
    assert!(took < Duration::from_secs(4), "{took:?}");

    let (error, _) = first_error(
        &format!("url={} tls-root=/nonexistent/ca.pem", relay.url()),
        Duration::from_secs(5),
    );
    assert!(error.expect("an error").contains("tls-root"));
    relay.stop();
}

/// A caps change that needs a new init segment (the video's resolution changes, so
/// x264enc writes new SPS/PPS) is an element error naming the cause, in bounded time:
/// the broadcast keeps its first track set and formats.
#[test]
fn a_format_change_mid_stream_is_an_element_error() {
    let relay = Relay::start(0, None);
    support::init();
    let launch = format!(
        "videotestsrc is-live=true num-buffers=150 pattern=ball ! capsfilter name=cf caps=video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! moq.video_0 \
         fragmp4moqsink name=moq url=\"{}\" broadcast=change tls-disable-verify=true fragment-duration=1000000000",
        relay.url()
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let cf = pipeline.by_name("cf").unwrap();
    let change = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        cf.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", 160)
                .field("height", 120)
                .field("framerate", gst::Fraction::new(30, 1))
                .build(),
        );
    });
    let log = run_to_end(&pipeline, Duration::from_secs(20));
    change.join().unwrap();
    pipeline.set_state(gst::State::Null).expect("null");
    assert!(!log.eos, "the format change went unnoticed");
    assert_eq!(log.errors.len(), 1, "{:?}", log.errors);
    assert!(
        log.errors[0].contains("new init segment"),
        "{:?}",
        log.errors
    );
    relay.stop();
}

/// Runs `openssl` with the whitespace-separated `args` in `dir`, failing the test with
/// its stderr.
fn openssl(dir: &Path, args: &str) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("openssl runs (scripts/install-deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// A CA named `name` in `dir` (`name.pem`, `name.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {EC_KEY} -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
             -keyout {name}.key -out {name}.pem"
        ),
    );
}

/// A certificate for localhost and 127.0.0.1 (`relay.pem`, `relay.key`) issued by CA `ca`.
fn make_relay_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("relay.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    openssl(
        dir,
        &format!("req {EC_KEY} -subj /CN=localhost -keyout relay.key -out relay.csr"),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in relay.csr -CA {ca}.pem -CAkey {ca}.key -CAcreateserial -days 2 \
             -extfile relay.ext -out relay.pem"
        ),
    );
}

/// `tls-root` names the CA that issued the relay's certificate: the sink verifies it and
/// publishes (a subscriber receives the broadcast); a CA that did not issue it is refused.
#[test]
fn a_relay_certificate_from_the_tls_root_ca_is_trusted_and_another_ca_is_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other-ca");
    make_relay_cert(dir.path(), "ca");
    let relay = Relay::start_with(
        0,
        None,
        RelayTls::Files {
            cert: &dir.path().join("relay.pem"),
            key: &dir.path().join("relay.key"),
        },
    );
    let ca = dir.path().join("ca.pem");

    let rt = runtime();
    let sub = Arc::new(Mutex::new(Subscribed::default()));
    rt.spawn(subscribe(relay.url(), "verified".into(), sub.clone()));
    let pipeline = verified_pipeline(
        &relay.url(),
        "verified",
        3,
        &format!("tls-root={} connect-timeout=3000000000", ca.display()),
    );
    let log = run_to_end(&pipeline, Duration::from_secs(30));
    assert!(log.errors.is_empty(), "errors: {:?}", log.errors);
    assert!(log.eos, "no EOS");
    assert!(
        wait_for(&sub, |s| s.video.len() == 1
            && s.audio.len() == 1
            && sample_count(s) >= 60),
        "nothing arrived through the verified session: {:?}",
        sub.lock().unwrap().frames.keys().collect::<Vec<_>>()
    );
    let moq = pipeline.by_name("moq").expect("sink");
    let stats = moq.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<u64>("reconnects").ok(), Some(0), "{stats}");
    pipeline.set_state(gst::State::Null).expect("null");

    let other = dir.path().join("other-ca.pem");
    let (error, took) = first_error(
        &format!(
            "url={} tls-root={} connect-timeout=3000000000",
            relay.url(),
            other.display()
        ),
        Duration::from_secs(10),
    );
    let error = error.expect("an error for a certificate from another CA");
    assert!(error.contains("cannot connect"), "{error}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    relay.stop();
}
