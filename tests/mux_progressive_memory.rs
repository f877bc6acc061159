//! Progressive mode keeps the payload on disk: resident memory grows with the sample
//! tables only, not with the bytes muxed.

mod support;

use gst::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use support::synth;

#[test]
fn ten_minutes_of_payload_stay_on_disk() {
    support::init();
    let pipeline = gst::parse::launch(
        "appsrc name=v format=time block=true max-bytes=1000000 ! mux.video_0 \
         appsrc name=a format=time block=true max-bytes=100000 ! mux.audio_0 \
         fragmp4mux name=mux mode=progressive ! fakesink name=out",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let (v, a) = (synth::appsrc(&pipeline, "v"), synth::appsrc(&pipeline, "a"));
    v.set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC))));
    a.set_caps(Some(&synth::aac_caps()));
    let out_bytes = Arc::new(AtomicU64::new(0));
    let counter = out_bytes.clone();
    let sink_pad = pipeline.by_name("out").unwrap().static_pad("sink").unwrap();
    sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
            counter.fetch_add(b.size() as u64, Ordering::Relaxed);
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    const SEC: u64 = 1_000_000_000;
    let mut rss_start = None;
    let stream = synth::LongStream {
        seconds: 600,
        fps: 30,
        keyframe_every: 60,
        video_size: 20_000,
        audio_size: 300,
    };
    let (vi, ai) = stream.feed(&v, &a, &bus, |vt| {
        if rss_start.is_none() && vt >= 30 * SEC {
            rss_start = Some(synth::rss_kib());
        }
    });
    let rss_before_eos = synth::rss_kib();
    v.end_of_stream().unwrap();
    a.end_of_stream().unwrap();
    assert_eq!(support::pipeline::wait_for_eos(&bus, 300), Ok(()));
    let rss_end = synth::rss_kib();
    pipeline.set_state(gst::State::Null).unwrap();

    let payload = vi * 20_000 + ai * 300;
    let written = out_bytes.load(Ordering::Relaxed);
    assert!(
        written > payload,
        "the whole file came out: {written} bytes for {payload} of payload"
    );
    let start = rss_start.unwrap();
    let growth_mib = (rss_before_eos.max(rss_end).saturating_sub(start)) / 1024;
    eprintln!(
        "RSS {start} KiB after 30 s, {rss_before_eos} KiB before EOS, {rss_end} KiB after; payload {} MiB",
        payload >> 20
    );
    // Tables: 16 bytes a sample, ~46k samples; the payload (~350 MiB) must not be in RAM.
    assert!(
        growth_mib < 32,
        "resident memory grew by {growth_mib} MiB while muxing {} MiB",
        payload >> 20
    );
}
