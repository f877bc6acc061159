//! fragmp4dashsink played by dash.js (npm `dashjs`, tests/browser/dash.mjs) in headless
//! Chromium: a VOD presentation from its files to the end, every frame presented; a live
//! one straight from the sink's HTTP origin for 20 s without an error or a stall.

mod support;

use gst::prelude::*;

#[test]
fn dash_js_plays_vod_to_the_end() {
    let d = std::env::temp_dir().join(format!("fragmp4-dash-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    support::pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
             ! x264enc key-int-max=30 ! h264parse ! fragmp4dashsink name=d location={} fragment-duration=1000000000 \
             audiotestsrc num-buffers=141 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! d.",
            d.display()
        ),
        60,
    );
    let json = support::judges::chromium("dash.mjs", &["vod".as_ref(), d.as_os_str()]);
    eprintln!("dash.js VOD: {json}");
    assert!(json.contains("\"ok\":true"), "{json}");
    assert!(
        json.contains("\"frames\":90"),
        "every frame presented: {json}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn dash_js_plays_live_from_the_origin_without_a_stall() {
    support::init();
    let launch = "videotestsrc is-live=true ! video/x-raw,format=I420,width=320,height=180,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! h264parse \
         ! fragmp4dashsink name=d http-port=0 fragment-duration=1000000000 playlist-length=10 \
         audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! d.";
    let p = gst::parse::launch(launch).unwrap();
    p.set_state(gst::State::Playing).unwrap();
    let url: String = p
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("d")
        .unwrap()
        .property::<Option<String>>("http-url")
        .expect("http-url");
    let result = std::panic::catch_unwind(|| {
        support::judges::chromium("dash.mjs", &["live".as_ref(), url.as_ref(), "20".as_ref()])
    });
    if let Some(bus) = p.bus()
        && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
        && let gst::MessageView::Error(e) = msg.view()
    {
        panic!("pipeline: {} ({:?})", e.error(), e.debug());
    }
    p.set_state(gst::State::Null).unwrap();
    let json = match result {
        Ok(json) => json,
        Err(e) => std::panic::resume_unwind(e),
    };
    eprintln!("dash.js live: {json}");
    assert!(json.contains("\"ok\":true"), "{json}");
    assert!(json.contains("\"stalls\":[]"), "{json}");
}
