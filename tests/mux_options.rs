//! Options a segmenting server needs: decode-time-offset with audio on its frame grid,
//! the CMAF brand, one moof per track, the first sequence number.

mod support;

use support::{check, mp4, pipeline, synth};

const SEC: u64 = 1_000_000_000;

fn run(props: &str) -> pipeline::Run {
    pipeline::run_with(
        &format!(
            "appsrc name=v format=time ! mux.video_0 appsrc name=a format=time ! mux.audio_0 \
             fragmp4mux name=mux fragment-duration=1000000000 {props} ! appsink name=sink"
        ),
        |p| {
            synth::appsrc(p, "v").set_caps(Some(&synth::h264_caps((25, 1), Some(&synth::AVCC))));
            synth::appsrc(p, "a").set_caps(Some(&synth::aac_caps()));
        },
        |p, _| {
            let (v, a) = (synth::appsrc(p, "v"), synth::appsrc(p, "a"));
            // Audio 10 ms after the video: off the 1024-sample grid once offset.
            synth::push(&a, synth::audio_frames(0..140, 10_000_000));
            synth::push(&v, synth::video_frames(0..75, (25, 1), 25));
            v.end_of_stream().unwrap();
            a.end_of_stream().unwrap();
        },
    )
}

#[test]
fn decode_time_offset_continues_a_timeline_with_audio_on_its_grid() {
    let r = run("decode-time-offset=20000000000");
    assert_eq!(r.error, None);
    let m = mp4::parse(&r.output.bytes);
    check::check_chunks(&m, 1);
    let video = &m.samples[&1];
    assert_eq!(
        video[0].dts,
        20 * 90000,
        "video: running time - origin + 20 s"
    );
    let audio = &m.samples[&2];
    assert_eq!(audio[0].dts % 1024, 0, "audio on the AAC frame grid");
    let exact = (20 * SEC + 10_000_000) * 48000 / SEC;
    assert!(
        (audio[0].dts as i64 - exact as i64).abs() <= 512,
        "shifted by at most half a frame"
    );
    assert_eq!(audio.len(), 140);
    assert_eq!(video.len(), 75);
}

#[test]
fn cmaf_brand_and_one_moof_per_track() {
    let r = run("cmaf=true separate-moof=true start-fragment-sequence-number=100");
    assert_eq!(r.error, None);
    let m = mp4::parse(&r.output.bytes);
    let brands: Vec<String> = m
        .ftyp
        .compatible_brands
        .iter()
        .map(|b| b.to_string())
        .collect();
    assert!(brands.contains(&"cmfc".to_string()), "{brands:?}");
    assert!(
        m.chunks.iter().all(|c| c.trafs.len() == 1),
        "one traf per moof"
    );
    check::check_init(&r.inputs, &m);
    check::check_samples(&r.inputs, &m);
    // Fragment starts: the video moof of each pair; sequence numbers count every moof.
    let starts: Vec<bool> = r.output.pushes[1..]
        .iter()
        .map(|p| !p[0].flags.contains(gst::BufferFlags::DELTA_UNIT))
        .collect();
    check::check_chunks_with(&m, 100, |k| starts[k]);
    // A fragment opens with its video moof, unless the video has ended (audio-only
    // fragments at the end).
    let last_video_chunk = m.samples[&1].last().unwrap().chunk;
    for (k, c) in m.chunks.iter().enumerate() {
        if starts[k] && k <= last_video_chunk {
            assert_eq!(
                c.trafs[0].track_id, 1,
                "chunk {k}: a fragment opens with its video moof"
            );
        }
    }
}
