//! Exact cases with hand-made buffers pushed through appsrc into fragmp4mux.

mod support;

use support::{check, pipeline, synth};

const SEC: u64 = 1_000_000_000;

fn video_launch(fragment_duration: u64) -> String {
    format!(
        "appsrc name=v format=time ! mux.video_0 fragmp4mux name=mux fragment-duration={fragment_duration} ! appsink name=sink"
    )
}

fn av_launch(fragment_duration: u64) -> String {
    format!(
        "appsrc name=v format=time ! mux.video_0 appsrc name=a format=time ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration={fragment_duration} ! appsink name=sink"
    )
}

#[test]
fn fragment_leaves_as_soon_as_its_cutting_keyframe_arrives() {
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC)))),
        |p, out| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..30, (30, 1), 15));
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert_eq!(
                out.lock().unwrap().pushes.len(),
                0,
                "no fragment before the cutting keyframe"
            );
            synth::push(&v, synth::video_frames(30..31, (30, 1), 15));
            assert!(
                pipeline::wait_for_pushes(out, 2),
                "init + first fragment without waiting for EOS"
            );
            synth::push(&v, synth::video_frames(31..50, (30, 1), 15));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    let per_chunk: Vec<usize> = mp4.chunks.iter().map(|c| c.trafs[0].samples).collect();
    assert_eq!(per_chunk, vec![30, 20]);
}

#[test]
fn audio_up_to_the_cut_is_awaited_then_the_fragment_leaves() {
    let audio_frame = 1024 * SEC / 48000;
    let below_cut = SEC / audio_frame + 1; // frames 0..below_cut all start before 1 s
    let run = pipeline::run_with(
        &av_launch(SEC),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, out| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&v, synth::video_frames(0..31, (30, 1), 15));
            synth::push(&a, synth::audio_frames(0..below_cut, 0));
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert_eq!(
                out.lock().unwrap().pushes.len(),
                0,
                "audio has not reached the cut yet"
            );
            synth::push(&a, synth::audio_frames(below_cut..below_cut + 1, 0));
            assert!(
                pipeline::wait_for_pushes(out, 2),
                "fragment leaves once audio passes the cut"
            );
            synth::push(&v, synth::video_frames(31..40, (30, 1), 15));
            synth::push(&a, synth::audio_frames(below_cut + 1..below_cut + 15, 0));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    assert_eq!(mp4.chunks[0].trafs[1].samples as u64, below_cut);
}

#[test]
fn ntsc_rate_uses_its_own_timescale_without_drift() {
    let fps = (30000, 1001);
    let run = pipeline::run_with(
        &video_launch(2 * SEC),
        |p| {
            synth::appsrc(p, "v")
                .set_caps(Some(&synth::h264_caps((30000, 1001), Some(&synth::AVCC))))
        },
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..600, fps, 30));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all(&run.inputs, &run.output, 2 * SEC as i64);
    assert_eq!(mp4.timescale(1), 30000);
    assert!(mp4.samples[&1].iter().all(|s| s.duration == 1001));
    let mut frames = 0u64;
    for c in &mp4.chunks {
        assert_eq!(c.trafs[0].tfdt, Some(frames * 1001));
        frames += c.trafs[0].samples as u64;
    }
    assert_eq!(frames, 600);
}

#[test]
fn late_audio_keeps_its_offset_from_the_common_origin() {
    let run = pipeline::run_with(
        &av_launch(SEC),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            synth::push(&v, synth::video_frames(0..60, (30, 1), 15));
            // Audio starts 300 ms after the video.
            synth::push(&a, synth::audio_frames(0..80, 300_000_000));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    assert_eq!(mp4.samples[&1][0].pts, 0);
    assert_eq!(mp4.samples[&2][0].dts, 300 * 48);
}

#[test]
fn leading_delta_units_are_dropped_and_counted() {
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC)))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            // A keyframe every 10 frames, starting at frame 5: frames 0..10 are deltas except none.
            let frames: Vec<_> = synth::video_frames(0..40, (30, 1), 10)
                .into_iter()
                .skip(3)
                .collect();
            synth::push(&v, frames);
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    // Frames 3..10 come before the first keyframe (frame 10).
    assert_eq!(run.stats.get::<u64>("dropped-before-keyframe").unwrap(), 7);
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    assert_eq!(mp4.samples[&1].len(), 30);
}

#[test]
fn non_increasing_dts_is_dropped_and_counted() {
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC)))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            let mut frames = synth::video_frames(0..20, (30, 1), 10);
            // A repeat of frame 5's timestamps after frame 5.
            let t = 5 * SEC / 30;
            frames.insert(6, synth::buffer(999, 50, Some(t), Some(t), false));
            synth::push(&v, frames);
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    assert_eq!(
        run.stats.get::<u64>("dropped-non-increasing-dts").unwrap(),
        1
    );
    let mp4 = support::mp4::parse(&run.output.bytes);
    let tags: Vec<u32> = mp4.samples[&1]
        .iter()
        .map(|s| synth::tag(&s.data))
        .collect();
    assert_eq!(tags, (0..20).collect::<Vec<u32>>());
}

#[test]
fn buffer_without_timestamps_is_an_element_error() {
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC)))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..3, (30, 1), 10));
            synth::push(&v, vec![synth::buffer(3, 10, None, None, false)]);
            v.end_of_stream().unwrap();
        },
    );
    let err = run.error.expect("an element error");
    assert!(err.starts_with("mux:"), "{err}");
    assert!(
        err.contains("video_0") && err.contains("without DTS and PTS"),
        "{err}"
    );
}

#[test]
fn missing_codec_data_is_an_element_error() {
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((30, 1), None))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..3, (30, 1), 10));
            v.end_of_stream().unwrap();
        },
    );
    let err = run.error.expect("an element error");
    assert!(
        err.contains("video_0") && err.contains("codec_data"),
        "{err}"
    );
    assert!(run.output.bytes.is_empty());
}

#[test]
fn truncated_avcc_is_an_element_error() {
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| {
            synth::appsrc(p, "v")
                .set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC[..9]))))
        },
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..3, (30, 1), 10));
            v.end_of_stream().unwrap();
        },
    );
    let err = run.error.expect("an element error");
    assert!(err.contains("avcC") && err.contains("SPS"), "{err}");
}

#[test]
fn pixel_aspect_and_colorimetry_come_from_the_caps() {
    support::init();
    let mut caps = synth::h264_caps((25, 1), Some(&synth::AVCC));
    caps.get_mut()
        .unwrap()
        .set("pixel-aspect-ratio", gst::Fraction::new(4, 3));
    caps.get_mut().unwrap().set("colorimetry", "bt709");
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&caps)),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..10, (25, 1), 5));
            v.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    let mp4_atom::Codec::Avc1(avc1) = mp4.codec(1) else {
        panic!("avc1 expected");
    };
    let pasp = avc1.pasp.as_ref().expect("pasp from pixel-aspect-ratio");
    assert_eq!((pasp.h_spacing, pasp.v_spacing), (4, 3));
    assert_eq!(
        avc1.colr,
        Some(mp4_atom::Colr::Nclx {
            colour_primaries: 1,
            transfer_characteristics: 1,
            matrix_coefficients: 1,
            full_range_flag: false
        })
    );
    // Without those caps fields, neither box is invented.
    let run = pipeline::run_with(
        &video_launch(SEC),
        |p| synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC)))),
        |p, _| {
            let v = synth::appsrc(p, "v");
            synth::push(&v, synth::video_frames(0..10, (25, 1), 5));
            v.end_of_stream().unwrap();
        },
    );
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    let mp4_atom::Codec::Avc1(avc1) = mp4.codec(1) else {
        panic!("avc1 expected");
    };
    assert!(avc1.pasp.is_none() && avc1.colr.is_none());
}

#[test]
fn sample_payloads_leave_as_the_very_memories_that_came_in() {
    use gst::prelude::*;
    use std::sync::{Arc, Mutex};
    support::init();
    let pipeline = gst::parse::launch(&video_launch(SEC))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let v = synth::appsrc(&pipeline, "v");
    v.set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC))));
    // Addresses of the bytes of every memory that entered and that left.
    let addresses = |b: &gst::BufferRef| -> Vec<usize> {
        b.iter_memories()
            .map(|m| m.map_readable().unwrap().as_slice().as_ptr() as usize)
            .collect()
    };
    let input = Arc::new(Mutex::new(Vec::new()));
    let rec = input.clone();
    let mux = pipeline.by_name("mux").unwrap();
    mux.static_pad("video_0")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                rec.lock().unwrap().extend(addresses(b));
            }
            gst::PadProbeReturn::Ok
        });
    let output = Arc::new(Mutex::new(Vec::new()));
    let out = output.clone();
    // Per buffer list: the memory count and flags of each payload buffer.
    let layout = Arc::new(Mutex::new(Vec::new()));
    let lay = layout.clone();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    sink.set_property("buffer-list", true);
    sink.set_property("sync", false);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(list) = sample.buffer_list() {
                    // Skip the moof + mdat header buffer.
                    for b in list.iter().skip(1) {
                        out.lock().unwrap().extend(addresses(b));
                    }
                    let payload: Vec<(usize, gst::BufferFlags)> = list
                        .iter()
                        .skip(1)
                        .map(|b| (b.n_memory(), b.flags()))
                        .collect();
                    lay.lock().unwrap().push(payload);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    // Every third sample arrives in three memories, cut inside its length prefix and its
    // NAL unit: they too must leave as they came, not merged.
    let frames = synth::video_frames(0..60, (30, 1), 15)
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            if i % 3 == 1 {
                in_pieces(&b, &[2, 7])
            } else {
                b
            }
        })
        .collect();
    synth::push(&v, frames);
    v.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos])
        .expect("EOS");
    pipeline.set_state(gst::State::Null).unwrap();
    let (input, output) = (
        input.lock().unwrap().clone(),
        output.lock().unwrap().clone(),
    );
    assert_eq!(input.len(), 60 + 2 * 20);
    assert_eq!(
        output, input,
        "every payload memory passes through, none copied or merged"
    );
    // DESIGN.md O: output buffers carry up to 16 consecutive sample memories, so a chunk
    // of N one-memory samples is N/16 buffers (rounded up), not N; each is DELTA_UNIT and
    // the last of the chunk MARKER.
    let layout = layout.lock().unwrap().clone();
    assert!(layout.len() >= 2, "several fragments: {layout:?}");
    for payload in &layout {
        let memories: usize = payload.iter().map(|(n, _)| n).sum();
        assert!(
            memories > 16,
            "fragments of more than 16 samples: {layout:?}"
        );
        assert_eq!(payload.len(), memories.div_ceil(16), "{payload:?}");
        for (i, (n, flags)) in payload.iter().enumerate() {
            assert!(*n <= 16, "{payload:?}");
            assert!(flags.contains(gst::BufferFlags::DELTA_UNIT), "{payload:?}");
            assert_eq!(
                flags.contains(gst::BufferFlags::MARKER),
                i == payload.len() - 1,
                "{payload:?}"
            );
        }
    }
}

/// Pushes `buffers` through `src` in `segment` (appsrc sends a segment event when it
/// changes).
fn push_in_segment(
    src: &gst_app::AppSrc,
    segment: &gst::FormattedSegment<gst::ClockTime>,
    buffers: Vec<gst::Buffer>,
) {
    for b in buffers {
        let sample = gst::Sample::builder().buffer(&b).segment(segment).build();
        src.push_sample(&sample).expect("appsrc accepts the sample");
    }
}

/// Video frames `range` at 30 fps whose PTS is one frame after their DTS, with `shift`
/// ns added to both.
fn delayed_frames(range: std::ops::Range<u64>, shift: u64) -> Vec<gst::Buffer> {
    let frame = SEC / 30;
    range
        .map(|i| {
            let t = shift + i * frame;
            synth::buffer(
                i as u32,
                100 + (i as usize * 7) % 300,
                Some(t + frame),
                Some(t),
                i % 15 == 0,
            )
        })
        .collect()
}

#[test]
fn a_new_segment_mid_stream_maps_the_samples_after_it() {
    // After 2 s the timestamps jump to 100 s in a segment whose running time goes on
    // from 2 s: the samples after it must keep the running-time timeline (the element
    // reads each pad's segment once, and again after a segment event).
    use gst::prelude::*;
    let jump = 98 * SEC;
    let run = pipeline::run_with(
        &av_launch(SEC),
        |p| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            v.set_caps(Some(&synth::h264_caps((30, 1), Some(&synth::AVCC))));
            a.set_caps(Some(&synth::aac_caps()));
            for src in [&v, &a] {
                src.set_property("handle-segment-change", true);
            }
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            let first = gst::FormattedSegment::<gst::ClockTime>::new();
            let mut second = gst::FormattedSegment::<gst::ClockTime>::new();
            second.set_start(gst::ClockTime::from_nseconds(jump + 2 * SEC));
            second.set_time(gst::ClockTime::from_nseconds(jump + 2 * SEC));
            second.set_base(gst::ClockTime::from_nseconds(2 * SEC));
            let audio_frame = 1024 * SEC / 48000;
            let split = 2 * SEC / audio_frame + 1;
            let audio_in = |range: std::ops::Range<u64>, shift: u64| {
                synth::audio_frames(range, shift)
                    .into_iter()
                    .filter(|b| {
                        let t = b.pts().unwrap().nseconds() - shift;
                        (t >= 2 * SEC) == (shift > 0)
                    })
                    .collect::<Vec<_>>()
            };
            push_in_segment(&v, &first, delayed_frames(0..60, 0));
            push_in_segment(&a, &first, audio_in(0..split, 0));
            push_in_segment(&v, &second, delayed_frames(60..120, jump));
            push_in_segment(&a, &second, audio_in(0..4 * SEC / audio_frame, jump));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    );
    assert_eq!(run.error, None);
    // Decode and presentation times of every sample equal its running time.
    let mp4 = check::check_all(&run.inputs, &run.output, SEC as i64);
    let video = &mp4.samples[&1];
    assert_eq!(video.len(), 120);
    let last = video.last().unwrap();
    assert!(
        last.dts < u64::from(mp4.timescale(1)) * 5,
        "the last frame decodes at about 4 s, not 100 s: {last:?}"
    );
}

/// `buffer` with its bytes in separate memories, cut at the byte offsets `cuts`.
fn in_pieces(buffer: &gst::Buffer, cuts: &[usize]) -> gst::Buffer {
    let bytes = buffer.map_readable().unwrap().to_vec();
    let mut out = gst::Buffer::new();
    {
        let out = out.get_mut().unwrap();
        let mut start = 0;
        for &end in cuts.iter().chain([&bytes.len()]) {
            out.append_memory(gst::Memory::from_slice(bytes[start..end].to_vec()));
            start = end;
        }
        out.set_pts(buffer.pts());
        out.set_dts(buffer.dts());
        out.set_duration(buffer.duration());
        out.set_flags(buffer.flags());
    }
    out
}
