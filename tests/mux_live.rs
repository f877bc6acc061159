//! Live sources: a stalled video pad must not stop the output.

mod support;

use gst::prelude::*;
use std::time::Duration;
use support::{mp4, pipeline};

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
