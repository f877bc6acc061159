//! One hour of media at 60 fps plus AAC through the muxer: resident memory must stay
//! bounded by the fragment in progress, whatever the duration.

mod support;

use gst::prelude::*;
use support::synth;

#[test]
fn an_hour_of_media_keeps_memory_flat() {
    support::init();
    let pipeline = gst::parse::launch(
        "appsrc name=v format=time block=true max-bytes=65536 ! mux.video_0 \
         appsrc name=a format=time block=true max-bytes=65536 ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=2000000000 ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let (v, a) = (synth::appsrc(&pipeline, "v"), synth::appsrc(&pipeline, "a"));
    v.set_caps(Some(&synth::h264_caps((60, 1), Some(&synth::AVCC))));
    a.set_caps(Some(&synth::aac_caps()));
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();

    const SEC: u64 = 1_000_000_000;
    let mut rss_at_ten_minutes = None;
    let stream = synth::LongStream {
        seconds: 3600,
        fps: 60,
        keyframe_every: 120,
        video_size: 40,
        audio_size: 12,
    };
    let (vi, ai) = stream.feed(&v, &a, &bus, |vt| {
        if vt % (600 * SEC) == 0 {
            eprintln!("RSS at {} s of media: {} KiB", vt / SEC, synth::rss_kib());
        }
        if rss_at_ten_minutes.is_none() && vt >= 600 * SEC {
            rss_at_ten_minutes = Some(synth::rss_kib());
        }
    });
    v.end_of_stream().unwrap();
    a.end_of_stream().unwrap();
    assert_eq!(support::pipeline::wait_for_eos(&bus, 300), Ok(()));
    let end = synth::rss_kib();
    let stats = pipeline
        .by_name("mux")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();

    assert_eq!(
        stats.get::<u64>("fragments").unwrap(),
        1800,
        "2 s fragments over an hour"
    );
    let start = rss_at_ten_minutes.unwrap();
    let growth = end.saturating_sub(start);
    eprintln!("RSS at 10 min {start} KiB, at 60 min {end} KiB ({vi} video, {ai} audio buffers)");
    // One fragment here is 120 frames and 94 audio frames, a few tens of KiB with its
    // bookkeeping; allow for allocator noise but not for growth with the duration.
    assert!(
        growth < 1024,
        "resident memory grew by {growth} KiB over 50 minutes of media"
    );
}
