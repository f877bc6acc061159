//! `write-prft`: producer reference times read back by mp4-atom. Each one refers to the
//! `tfdt` of the `moof` after it, and its UTC follows the wall clock: a live source's
//! chunks are pushed at most a chunk and the encoder's delay after the UTC of their
//! first frame, never before it.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use gst::prelude::*;
use support::{mp4, prft};

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// The output bytes and, per pushed buffer list, the offset it ended at and the UTC
/// (ns) it arrived at.
type Timed = (Vec<u8>, Vec<(usize, i128)>);

/// Runs `launch` (an appsink named `sink`) to EOS.
fn run_timed(launch: &str) -> Timed {
    support::init();
    let p = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = p
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    sink.set_property("sync", false);
    sink.set_property("buffer-list", true);
    let out: Arc<Mutex<Timed>> = Arc::default();
    let o = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let at = now_ns();
                let mut o = o.lock().unwrap();
                if let Some(list) = sample.buffer_list() {
                    for b in list.iter() {
                        o.0.extend_from_slice(&b.map_readable().unwrap());
                    }
                } else if let Some(b) = sample.buffer() {
                    o.0.extend_from_slice(&b.map_readable().unwrap());
                }
                let end = o.0.len();
                o.1.push((end, at));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    p.set_state(gst::State::Playing).unwrap();
    let r = support::pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    r.unwrap_or_else(|e| panic!("{launch}: {e}"));
    std::mem::take(&mut *out.lock().unwrap())
}

const LIVE: &str = "videotestsrc is-live=true num-buffers=75 ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 \
     ! x264enc key-int-max=25 tune=zerolatency speed-preset=ultrafast ! h264parse ! mux.video_0 \
     audiotestsrc is-live=true num-buffers=140 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
     ! avenc_aac ! aacparse ! mux.audio_0";

#[test]
fn live_chunks_carry_prft_on_the_wall_clock() {
    let chunk_ns: i128 = 200_000_000;
    let (data, pushes) = run_timed(&format!(
        "{LIVE} fragmp4mux name=mux write-prft=true fragment-duration=1000000000 chunk-duration={chunk_ns} \
         ! appsink name=sink"
    ));
    let file = mp4::parse(&data);
    let timescale = file.timescale(1);
    let found = prft::prfts(&data);
    let moofs = mp4::top_level_boxes(&data)
        .iter()
        .filter(|b| b.0 == "moof")
        .count();
    // Every chunk holds video here (one moof, a traf per track).
    assert!(moofs > 10, "{moofs} chunks");
    assert_eq!(found.len(), moofs, "one prft per moof");
    let prft_offsets: Vec<usize> = mp4::top_level_boxes(&data)
        .iter()
        .filter(|b| b.0 == "prft")
        .map(|b| b.1)
        .collect();
    let first = &found[0];
    for (p, at) in found.iter().zip(&prft_offsets) {
        assert_eq!(p.version, 1, "64-bit media time");
        assert_eq!(p.prft.reference_track_id, 1, "the video is the reference");
        assert!(p.between.is_empty(), "the moof follows: {:?}", p.between);
        assert_eq!(
            Some(p.prft.media_time),
            p.next_tfdt,
            "media_time is the tfdt"
        );
        // One pairing of running time and UTC: UTC advances with media time exactly.
        let media_ns = i128::from(p.prft.media_time - first.prft.media_time) * 1_000_000_000
            / i128::from(timescale);
        let utc_ns = prft::unix_ns(p.prft.ntp_timestamp) - prft::unix_ns(first.prft.ntp_timestamp);
        assert!((utc_ns - media_ns).abs() <= 2, "{utc_ns} vs {media_ns}");
        // The chunk left the muxer after its first frame was captured, within a chunk
        // and the encoder's and scheduling delays.
        let (_, pushed) = pushes.iter().find(|(end, _)| end > at).unwrap();
        let lag = pushed - prft::unix_ns(p.prft.ntp_timestamp);
        assert!(
            (-20_000_000..chunk_ns + 600_000_000).contains(&lag),
            "chunk at media time {} pushed {} ms after its prft UTC",
            p.prft.media_time,
            lag / 1_000_000
        );
    }
    // The run took as long as the media: a live source.
    let media = i128::from(found.last().unwrap().prft.media_time - first.prft.media_time)
        * 1_000_000_000
        / i128::from(timescale);
    let wall = pushes.last().unwrap().1 - pushes[1].1;
    assert!(
        (wall - media).abs() < 500_000_000,
        "{wall} ns of wall clock for {media} ns of media"
    );
    support::judges::ffmpeg_decodes(&support::pipeline::temp_file("prft.mp4", &data));
}

#[test]
fn prft_is_off_by_default() {
    support::init();
    let mux = gst::ElementFactory::make("fragmp4mux").build().unwrap();
    assert!(!mux.property::<bool>("write-prft"));
    let (data, _) = run_timed(
        "videotestsrc num-buffers=30 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc key-int-max=15 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
    );
    assert!(prft::prfts(&data).is_empty());
}

const FILE: &str = "videotestsrc num-buffers=60 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
     ! x264enc key-int-max=15 bframes=2 speed-preset=ultrafast ! h264parse ! mux.video_0 \
     audiotestsrc num-buffers=90 samplesperbuffer=1024 ! audio/x-raw,rate=48000,channels=1 \
     ! avenc_aac ! aacparse ! mux.audio_0";

#[test]
fn a_per_fragment_sidx_counts_the_prft_after_it() {
    let (data, _) = run_timed(&format!(
        "{FILE} fragmp4mux name=mux write-prft=true index=per-fragment fragment-duration=500000000 \
         ! appsink name=sink"
    ));
    let boxes = mp4::top_level_boxes(&data);
    let kinds: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
    let first = kinds.iter().position(|k| *k == "sidx").unwrap();
    for (i, w) in kinds[first..].chunks(4).enumerate() {
        assert_eq!(
            w,
            ["sidx", "prft", "moof", "mdat"],
            "fragment {i}: {kinds:?}"
        );
    }
    for (i, b) in boxes.iter().enumerate().filter(|(_, b)| b.0 == "sidx") {
        let sidx = mp4_atom::Sidx::try_from(
            <mp4_atom::Any as mp4_atom::Decode>::decode(&mut &data[b.1..b.1 + b.2]).unwrap(),
        )
        .unwrap();
        let referenced: usize = boxes[i + 1..i + 4].iter().map(|b| b.2).sum();
        assert_eq!(
            sidx.references[0].referenced_size as usize, referenced,
            "the subsegment is prft + moof + mdat"
        );
    }
    for p in prft::prfts(&data) {
        assert_eq!(Some(p.prft.media_time), p.next_tfdt);
    }
    // Still a valid file for ffmpeg.
    support::judges::ffmpeg_decodes(&support::pipeline::temp_file("prft-sidx.mp4", &data));
}

#[test]
fn with_separate_moofs_only_the_reference_track_s_moof_gets_a_prft() {
    let (data, _) = run_timed(&format!(
        "{FILE} fragmp4mux name=mux write-prft=true separate-moof=true fragment-duration=500000000 \
         ! appsink name=sink"
    ));
    let file = mp4::parse(&data);
    let video_moofs = file
        .chunks
        .iter()
        .filter(|c| c.trafs.iter().any(|t| t.track_id == 1))
        .count();
    assert!(
        file.chunks.len() > video_moofs,
        "audio has moofs of its own"
    );
    let found = prft::prfts(&data);
    assert_eq!(found.len(), video_moofs);
    for p in found {
        assert_eq!(p.prft.reference_track_id, 1);
        assert_eq!(Some(p.prft.media_time), p.next_tfdt);
    }
}
