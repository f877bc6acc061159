//! Cutting on demand: the split-now action signal, a downstream force-key-unit event,
//! and splitmuxsink with fragmp4mux as its muxer.

mod support;

use gst::prelude::*;
use support::{check, judges, mp4, pipeline, synth};

fn split_run(split: impl FnOnce(&gst::Element) + Send) -> Vec<usize> {
    let run = pipeline::run_with(
        "appsrc name=v format=time ! mux.video_0 fragmp4mux name=mux fragment-duration=10000000000 ! appsink name=sink",
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC)))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..20, (25, 1), 5));
            std::thread::sleep(std::time::Duration::from_millis(200));
            split(&p.by_name("mux").unwrap());
            synth::push(&v, synth::video_frames(20..40, (25, 1), 5));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let m = check::check_all(&run.inputs, &run.output, 1);
    m.chunks.iter().map(|c| c.trafs[0].samples).collect()
}

#[test]
fn split_now_ends_the_fragment_at_the_next_keyframe() {
    assert_eq!(
        split_run(|mux| mux.emit_by_name::<()>("split-now", &[])),
        vec![5, 35]
    );
}

#[test]
fn a_downstream_force_key_unit_event_splits() {
    let sizes = split_run(|mux| {
        let event = gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build();
        assert!(mux.static_pad("src").unwrap().send_event(event));
    });
    assert_eq!(sizes, vec![5, 35]);
}

#[test]
fn splitmuxsink_writes_valid_files_with_fragmp4mux() {
    let dir = std::env::temp_dir().join(format!("fragmp4-splitmux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
             ! x264enc key-int-max=15 speed-preset=ultrafast ! h264parse ! sm.video \
             audiotestsrc num-buffers=140 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! sm.audio_0 \
             splitmuxsink name=sm muxer=fragmp4mux max-size-time=1000000000 location={}/seg%02d.mp4",
            dir.display()
        ),
        60,
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{} files", files.len());
    let mut frames = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let m = mp4::parse(&bytes);
        assert!(
            m.samples[&1][0].is_sync(),
            "{} starts with a keyframe",
            f.display()
        );
        check::check_chunks(&m, m.chunks[0].sequence);
        judges::ffmpeg_decodes(f);
        frames += m.samples[&1].len();
    }
    assert_eq!(frames, 90, "every frame in exactly one file");
    let _ = std::fs::remove_dir_all(dir);
}
