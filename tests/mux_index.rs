//! `index`: segment indexes (`sidx`) read back by mp4-atom and checked against the
//! fragments as the same parser finds them, and played by ffmpeg and qtdemux.

mod support;

use mp4_atom::{Any, Decode, Sidx};
use support::{judges, mp4, pipeline};

/// H.264 with B-frames + AAC through `fragmp4mux {props}` into a file.
fn record(name: &str, props: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path =
        std::env::temp_dir().join(format!("fragmp4-index-{}-{name}.mp4", std::process::id()));
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers=90 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
             ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! m.video_0 \
             audiotestsrc num-buffers=141 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
             ! avenc_aac ! aacparse ! m.audio_0 \
             fragmp4mux name=m fragment-duration=500000000 {props} ! filesink location={}",
            path.display()
        ),
        60,
    );
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

use mp4::top_level_boxes as boxes;

fn sidx_at(data: &[u8], at: usize, size: usize) -> Sidx {
    Sidx::try_from(Any::decode(&mut &data[at..at + size]).unwrap()).unwrap()
}

/// Per fragment of the video track (chunks grouped from one keyframe start to the
/// next): (offset of its first box, earliest PTS, latest PTS + duration).
fn video_fragments(data: &[u8], file: &mp4::Mp4) -> Vec<(usize, i64, i64)> {
    let moofs: Vec<usize> = boxes(data)
        .into_iter()
        .filter(|b| b.0 == "moof")
        .map(|b| b.1)
        .collect();
    let mut out: Vec<(usize, i64, i64)> = Vec::new();
    let video = &file.samples[&1];
    for (chunk, &at) in moofs.iter().enumerate() {
        let samples: Vec<&mp4::Sample> = video.iter().filter(|s| s.chunk == chunk).collect();
        let start = samples.iter().map(|s| s.pts).min();
        let end = samples.iter().map(|s| s.pts + i64::from(s.duration)).max();
        let opens = samples.first().is_some_and(|s| s.is_sync());
        match (out.last_mut(), start, end) {
            (Some(f), Some(s), Some(e)) if !opens => {
                f.1 = f.1.min(s);
                f.2 = f.2.max(e);
            }
            (Some(_), None, None) => {}
            (_, Some(s), Some(e)) => out.push((at, s, e)),
            _ => {}
        }
    }
    out
}

fn check_single(name: &str, props: &str) {
    let (path, data) = record(name, props);
    let top = boxes(&data);
    let kinds: Vec<&str> = top.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(&kinds[..4], &["ftyp", "moov", "sidx", "moof"], "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "sidx").count(), 1);
    let (_, sidx_pos, sidx_size) = top[2].clone();
    let sidx = sidx_at(&data, sidx_pos, sidx_size);
    let file = mp4::parse(&data);
    assert_eq!(sidx.reference_id, 1, "follows the video");
    assert_eq!(sidx.timescale, file.timescale(1));
    assert_eq!(sidx.first_offset, 0);
    let fragments = video_fragments(&data, &file);
    assert_eq!(sidx.references.len(), fragments.len());
    assert_eq!(sidx.earliest_presentation_time as i64, fragments[0].1);
    // Sizes reach from one fragment's first moof to the next (the last to the mfra or
    // the end of the file); durations from one earliest presentation to the next.
    let mut at = sidx_pos + sidx_size;
    for (i, (r, f)) in sidx.references.iter().zip(&fragments).enumerate() {
        assert_eq!(at, f.0, "fragment {i} starts where the index says");
        let next_at = fragments.get(i + 1).map_or_else(
            || {
                top.iter()
                    .find(|b| b.0 == "mfra")
                    .map_or(data.len(), |b| b.1)
            },
            |n| n.0,
        );
        assert_eq!(
            r.referenced_size as usize,
            next_at - f.0,
            "size of fragment {i}"
        );
        let end = fragments.get(i + 1).map_or(f.2, |n| n.1);
        assert_eq!(
            i64::from(r.subsegment_duration),
            end - f.1,
            "duration of fragment {i}"
        );
        assert!(r.starts_with_sap, "fragment {i} starts with a keyframe");
        assert!(!r.reference_type, "references media");
        assert_eq!((r.sap_type, r.sap_delta_time), (1, 0));
        at = next_at;
    }
    // The recording's mfra still points at moofs.
    if let Some((_, m_at, m_size)) = top.iter().find(|b| b.0 == "mfra").cloned() {
        let mfra = mp4_atom::Mfra::try_from(Any::decode(&mut &data[m_at..m_at + m_size]).unwrap())
            .unwrap();
        for e in mfra.tfra.iter().flat_map(|t| &t.entries) {
            assert!(
                top.iter()
                    .any(|b| b.0 == "moof" && b.1 as u64 == e.moof_offset)
            );
        }
    }
    judges::ffmpeg_decodes(&path);
    let decoded = judges::qtdemux_decode(&path, &["video_0", "audio_0"]);
    assert_eq!(decoded[0].frames as usize, file.samples[&1].len());
}

#[test]
fn a_single_index_covers_every_fragment_exactly() {
    check_single("single", "index=single");
}

#[test]
fn a_single_index_groups_the_chunks_of_each_fragment() {
    check_single("single-chunked", "index=single chunk-duration=100000000");
}

#[test]
fn a_live_index_precedes_each_fragment() {
    let (path, data) = record("per-fragment", "index=per-fragment");
    let top = boxes(&data);
    let file = mp4::parse(&data);
    let fragments = video_fragments(&data, &file);
    let sidxs: Vec<&(String, usize, usize)> = top.iter().filter(|b| b.0 == "sidx").collect();
    assert_eq!(sidxs.len(), fragments.len());
    for (i, (s, f)) in sidxs.iter().zip(&fragments).enumerate() {
        let sidx = sidx_at(&data, s.1, s.2);
        assert_eq!(s.1 + s.2, f.0, "sidx {i} right before its moof");
        assert_eq!(sidx.references.len(), 1);
        let r = &sidx.references[0];
        let (_, moof_at, moof_size) = top.iter().find(|b| b.1 == f.0).unwrap().clone();
        let (kind, _, mdat_size) = top.iter().find(|b| b.1 == moof_at + moof_size).unwrap();
        assert_eq!(kind, "mdat");
        assert_eq!(r.referenced_size as usize, moof_size + mdat_size);
        assert_eq!(sidx.earliest_presentation_time as i64, f.1);
        assert_eq!(i64::from(r.subsegment_duration), f.2 - f.1, "its own span");
        assert!(r.starts_with_sap);
    }
    judges::ffmpeg_decodes(&path);
    let decoded = judges::qtdemux_decode(&path, &["video_0"]);
    assert_eq!(decoded[0].frames as usize, file.samples[&1].len());
}

#[test]
fn the_sidx_buffer_opens_each_fragment_downstream() {
    let (_, out) = pipeline::run(
        "videotestsrc num-buffers=60 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=15 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=500000000 index=per-fragment ! appsink name=sink",
    );
    let mut at = 0;
    for push in &out.pushes {
        let first = &push[0];
        let kind = &out.bytes[at + 4..at + 8];
        if first.flags.contains(gst::BufferFlags::HEADER) {
            assert_eq!(kind, b"ftyp");
        } else {
            assert_eq!(kind, b"sidx");
            assert!(!first.flags.contains(gst::BufferFlags::DELTA_UNIT));
            assert!(first.pts.is_some());
            assert!(
                push[1..]
                    .iter()
                    .all(|b| b.flags.contains(gst::BufferFlags::DELTA_UNIT))
            );
        }
        at += push.iter().map(|b| b.size).sum::<usize>();
    }
}

#[test]
fn impossible_index_settings_are_refused_before_the_first_byte() {
    for props in [
        "index=per-fragment chunk-duration=100000000",
        "index=single mode=progressive",
        "index=single mode=hybrid",
    ] {
        let error = pipeline::refused(
            &format!(
                "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=160,height=120 \
                 ! x264enc speed-preset=ultrafast ! h264parse ! mux.video_0 \
                 fragmp4mux name=mux {props} ! fakesink name=sink"
            ),
            gst::State::Playing,
        );
        assert!(error.contains("index"), "{props}: {error}");
    }
}

#[test]
fn a_live_index_refuses_one_moof_per_track() {
    let r = pipeline::run_with(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=160,height=120 \
         ! x264enc speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=30 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux index=per-fragment separate-moof=true ! appsink name=sink",
        |_| {},
        |_, _| {},
    );
    let error = r.error.expect("an element error");
    assert!(error.contains("separate-moof"), "{error}");
    assert!(r.output.bytes.is_empty(), "nothing written");
}
