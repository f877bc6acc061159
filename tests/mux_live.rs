//! Live sources: a stalled video pad must not stop the output.

mod support;

use gst::prelude::*;
use std::time::Duration;
use support::{check, judges, mp4, pipeline};

#[test]
fn a_stalled_live_video_pad_does_not_block_the_audio() {
    let launch = "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
        ! x264enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! h264parse ! valve name=vv ! mux.video_0 \
        audiotestsrc is-live=true samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse ! mux.audio_0 \
        fragmp4mux name=mux fragment-duration=300000000 ! appsink name=sink";
    let mut during_stall = 0;
    let run = pipeline::run_with(
        launch,
        |_| {},
        |p, out| {
            std::thread::sleep(Duration::from_millis(1200));
            let before = out.lock().unwrap().pushes.len();
            assert!(before >= 2, "live output flows");
            p.by_name("vv").unwrap().set_property("drop", true);
            std::thread::sleep(Duration::from_millis(1500));
            during_stall = out.lock().unwrap().pushes.len() - before;
            p.by_name("vv").unwrap().set_property("drop", false);
            std::thread::sleep(Duration::from_millis(1000));
            p.send_event(gst::event::Eos::new());
        },
    );
    assert_eq!(run.error, None);
    assert!(
        during_stall >= 3,
        "only {during_stall} fragments while the video stalled"
    );
    let mp4 = mp4::parse(&run.output.bytes);
    // Every audio frame exactly once, on a continuous timeline.
    let audio_in: Vec<&[u8]> = run.inputs[1]
        .buffers
        .iter()
        .map(|b| b.data.as_slice())
        .collect();
    let audio_out: Vec<&[u8]> = mp4.samples[&2].iter().map(|s| s.data.as_slice()).collect();
    assert_eq!(audio_out, audio_in);
    let mut next = None;
    for c in &mp4.chunks {
        for t in c.trafs.iter().filter(|t| t.track_id == 2) {
            if let Some(n) = next {
                assert_eq!(t.tfdt, Some(n), "audio tfdt continuity");
            }
            next = Some(t.tfdt.unwrap() + t.duration);
        }
    }
    // Video: every fragment starts with a keyframe; the only loss is the delta units
    // between the end of the stall and the next keyframe, and it is counted.
    for (k, _) in mp4.chunks.iter().enumerate() {
        if let Some(first) = mp4.samples[&1].iter().find(|s| s.chunk == k) {
            assert!(first.is_sync(), "chunk {k} starts with a keyframe");
        }
    }
    let dropped = run.stats.get::<u64>("dropped-before-keyframe").unwrap() as usize;
    assert!(dropped <= 10, "at most one GOP dropped, got {dropped}");
    let video_in: Vec<&[u8]> = run.inputs[0]
        .buffers
        .iter()
        .map(|b| b.data.as_slice())
        .collect();
    let video_out: Vec<&[u8]> = mp4.samples[&1].iter().map(|s| s.data.as_slice()).collect();
    assert_eq!(video_out.len() + dropped, video_in.len());
    let mut rest = video_in.iter();
    for s in &video_out {
        assert!(
            rest.any(|i| i == s),
            "video output is the input minus the dropped deltas, in order"
        );
    }
}

/// The latency a live pipeline reports across the muxer: upstream's plus the fragment
/// duration (the chunk duration when chunking, DESIGN.md C4), whatever part of it the
/// element lets its sink pads queue.
#[test]
fn live_latency_is_the_fragment_or_chunk_duration() {
    support::init();
    for (props, added_ms) in [
        ("fragment-duration=1000000000", 1000),
        ("fragment-duration=1000000000 chunk-duration=200000000", 200),
        ("fragment-duration=300000000", 300),
        ("fragment-duration=2000000000 latency=50000000", 2000),
    ] {
        let p = gst::parse::launch(&format!(
            "videotestsrc is-live=true ! video/x-raw,width=64,height=64,framerate=30/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse name=parse ! mux.video_0 \
             fragmp4mux name=mux {props} ! fakesink name=sink"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        p.set_state(gst::State::Playing).unwrap();
        let _ = p.state(gst::ClockTime::from_seconds(10));
        let latency = |pad: gst::Pad| {
            let mut q = gst::query::Latency::new();
            assert!(pad.peer_query(&mut q));
            let (live, min, _) = q.result();
            assert!(live);
            min
        };
        let sink_pad = p.by_name("sink").unwrap().static_pad("sink").unwrap();
        let mux_sink = p.by_name("mux").unwrap().static_pad("video_0").unwrap();
        let total = latency(sink_pad);
        let upstream = latency(mux_sink);
        p.set_state(gst::State::Null).unwrap();
        assert_eq!(
            total - upstream,
            gst::ClockTime::from_mseconds(added_ms),
            "{props}: latency added by the muxer"
        );
    }
}

#[test]
fn a_latency_the_user_set_is_kept() {
    support::init();
    let mux = gst::ElementFactory::make("fragmp4mux")
        .property("latency", 50_000_000u64)
        .build()
        .unwrap();
    mux.set_state(gst::State::Paused).unwrap();
    assert_eq!(mux.property::<u64>("latency"), 50_000_000);
    mux.set_state(gst::State::Null).unwrap();
    let auto = gst::ElementFactory::make("fragmp4mux").build().unwrap();
    auto.set_state(gst::State::Paused).unwrap();
    assert_eq!(
        auto.property::<u64>("latency"),
        500_000_000,
        "pads queue 500 ms"
    );
    auto.set_state(gst::State::Null).unwrap();
}

/// With force-keyframes, a keyframe is asked for where the fragment in progress should
/// end: 1 s after its first video frame. Audio that starts earlier must not set that
/// time: a keyframe forced before the video's own boundary restarts the encoder's GOP,
/// and the fragment either carries a needless keyframe or runs to the next GOP.
#[test]
fn keyframes_are_requested_on_the_video_timeline() {
    use std::sync::{Arc, Mutex};
    // Video starts about 200 ms after the audio (the valve opens then); its only
    // keyframes are the requested ones.
    let launch = "videotestsrc is-live=true num-buffers=110 \
        ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! valve name=vv drop=true \
        ! x264enc tune=zerolatency key-int-max=300 speed-preset=ultrafast ! h264parse ! mux.video_0 \
        audiotestsrc is-live=true num-buffers=160 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
        ! avenc_aac ! aacparse ! mux.audio_0 \
        fragmp4mux name=mux fragment-duration=1000000000 force-keyframes=true ! appsink name=sink";
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let run = pipeline::run_with(
        launch,
        move |p| {
            let pad = p.by_name("mux").unwrap().static_pad("video_0").unwrap();
            pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(ev)) = &info.data
                    && let Ok(fku) = gst_video::UpstreamForceKeyUnitEvent::parse(ev)
                {
                    seen.lock().unwrap().push(fku.running_time);
                }
                gst::PadProbeReturn::Ok
            });
        },
        |p, _| {
            std::thread::sleep(Duration::from_millis(200));
            p.by_name("vv").unwrap().set_property("drop", false);
        },
    );
    assert_eq!(run.error, None);
    let first_video = run.inputs[0]
        .buffers
        .iter()
        .find_map(|b| b.pts)
        .expect("video came");
    let requests = requests.lock().unwrap().clone();
    assert!(
        requests.len() >= 2,
        "force-keyframes asks upstream: {requests:?}"
    );
    for r in &requests {
        let r = r.expect("a running time").nseconds() as i64;
        assert!(
            r > first_video && (r - first_video) % 1_000_000_000 == 0,
            "keyframe requested at {r} ns, off the 1 s fragments of the video from {first_video} ns: {requests:?}"
        );
    }
    // Every keyframe opens a fragment, and the fragments are 30 frames (1 s) long.
    let mp4 = mp4::parse(&run.output.bytes);
    let video = &mp4.samples[&1];
    for (i, s) in video.iter().enumerate() {
        let opens = i == 0 || video[i - 1].chunk != s.chunk;
        assert_eq!(
            s.is_sync(),
            opens,
            "frame {i}: keyframe iff it starts a fragment"
        );
    }
    let chunks = mp4.chunks.len();
    for k in 0..chunks - 1 {
        let frames = video.iter().filter(|s| s.chunk == k).count();
        assert_eq!(frames, 30, "fragment {k} of {chunks}");
    }
}

/// Live, per-frame chunks (`chunk-duration` shorter than a frame): the aggregator times
/// out whenever the video's next frame is a few ms behind the audio. A late frame is not
/// a stall: no delta unit is dropped and every sample of both tracks comes out once with
/// its bytes, flags and timing; ffmpeg and qtdemux decode every video frame.
#[test]
fn per_frame_chunks_of_a_live_encoder_lose_no_frame() {
    let launch = "videotestsrc is-live=true num-buffers=75 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
        ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! h264parse ! mux.video_0 \
        audiotestsrc is-live=true num-buffers=117 ! audio/x-raw,rate=48000,channels=1 ! avenc_aac ! aacparse ! mux.audio_0 \
        fragmp4mux name=mux chunk-duration=1 fragment-duration=2000000000 ! appsink name=sink";
    let run = pipeline::run_with(launch, |_| {}, |_, _| {});
    assert_eq!(run.error, None);
    assert_eq!(
        run.stats.get::<u64>("dropped-before-keyframe").unwrap(),
        0,
        "{}",
        run.stats
    );
    let mp4 = mp4::parse(&run.output.bytes);
    check::check_samples(&run.inputs, &mp4);
    // One video sample per chunk.
    let video_chunks = mp4
        .chunks
        .iter()
        .filter(|c| c.trafs.iter().any(|t| t.track_id == 1))
        .count();
    assert_eq!(video_chunks, run.inputs[0].buffers.len());
    let path = pipeline::temp_file("per-frame-live.mp4", &run.output.bytes);
    judges::ffmpeg_decodes(&path);
    let decoded = judges::qtdemux_decode(&path, &["video_0"]);
    assert_eq!(decoded[0].frames, run.inputs[0].buffers.len() as u64);
}
