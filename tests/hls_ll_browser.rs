//! Low-Latency HLS played by hls.js (`lowLatencyMode`) in headless Chromium straight from
//! fragmp4hlssink's built-in origin: live sources, 30 s, no fatal error, no buffer stall
//! after start-up, median `hls.latency` over the last 10 s at most 1 s
//! (tests/browser/llhls.mjs). Parts as objects of their own and as byte ranges.

mod support;

use gst::prelude::*;

fn play(props: &str) -> String {
    support::init();
    let launch = format!(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! h.video_0 \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000 ! avenc_aac ! h.audio_0 \
         fragmp4hlssink name=h target-duration=1 part-duration=200000000 http-port=0 {props}"
    );
    let p = gst::parse::launch(&launch).unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let url: String = p
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("h")
        .unwrap()
        .property::<Option<String>>("http-url")
        .expect("http-url");
    let result = std::panic::catch_unwind(|| {
        support::judges::chromium("llhls.mjs", &[url.as_ref(), "30".as_ref(), "1.0".as_ref()])
    });
    if let Some(bus) = p.bus()
        && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
        && let gst::MessageView::Error(e) = msg.view()
    {
        panic!("pipeline: {} ({:?})", e.error(), e.debug());
    }
    p.set_state(gst::State::Null).unwrap();
    match result {
        Ok(json) => json,
        Err(e) => std::panic::resume_unwind(e),
    }
}

#[test]
fn hls_js_plays_ll_hls_parts_and_byteranges_live_within_a_second() {
    // One after the other: each is a real-time run on a shared machine.
    let parts = play("");
    eprintln!("parts: {parts}");
    let ranges = play("part-byteranges=true");
    eprintln!("byteranges: {ranges}");
    for json in [&parts, &ranges] {
        assert!(json.contains("\"ok\":true"), "{json}");
        assert!(
            !json.contains("\"parts_loaded\":0"),
            "hls.js loaded parts: {json}"
        );
    }
}
