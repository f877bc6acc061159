//! One hour of media at 60 fps plus AAC through the muxer: resident memory must stay
//! bounded by the fragment in progress, whatever the duration.

mod support;

use gst::prelude::*;
use support::synth;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

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

    const SEC: u64 = 1_000_000_000;
    let hour = 3600 * SEC;
    let bus = pipeline.bus().unwrap();
    let (mut vi, mut ai) = (0u64, 0u64);
    let mut rss_at_ten_minutes = None;
    loop {
        let vt = vi * SEC / 60;
        let at = ai * 1024 * SEC / 48000;
        if vt >= hour && at >= hour {
            break;
        }
        if vt <= at {
            v.push_buffer(synth::buffer(
                vi as u32,
                40,
                Some(vt),
                Some(vt),
                vi % 120 == 0,
            ))
            .unwrap();
            vi += 1;
        } else {
            a.push_buffer(synth::buffer(ai as u32, 12, Some(at), None, true))
                .unwrap();
            ai += 1;
        }
        if (vi + ai) % 1000 == 0 {
            // An application drains its bus: the per-fragment messages must not pile up.
            while let Some(msg) = bus.pop() {
                assert!(!matches!(msg.view(), gst::MessageView::Error(_)), "{msg:?}");
            }
        }
        if vi % 36000 == 0 && vt <= at {
            eprintln!("RSS at {} s of media: {} KiB", vt / SEC, rss_kib());
        }
        if rss_at_ten_minutes.is_none() && vt >= 600 * SEC {
            rss_at_ten_minutes = Some(rss_kib());
        }
    }
    v.end_of_stream().unwrap();
    a.end_of_stream().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(300),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS");
    assert!(matches!(msg.view(), gst::MessageView::Eos(_)), "{msg:?}");
    let end = rss_kib();
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
