//! `playbin` (what `gst-play-1.0` runs) seeking in files `fragmp4mux` wrote, with and
//! without an index, through `qtdemux` (what playbin picks by rank) and through
//! `fragmp4demux` (its rank raised in this process). After each flushing key-unit seek the
//! position query answers the seek target and the first decoded video frame is the one a
//! linear play shows at that time (same timestamp, same pixels); the first audio buffer
//! starts within an AAC frame of it.

mod support;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use support::pipeline;

const FRAMES: u64 = 150;

/// H.264 with B-frames + AAC, 5 s, 1 s fragments, `fragmp4mux {props}` into a file; with
/// `strip_mfra` the trailing `mfra` is cut off (a stream as a live consumer saved it).
fn mux_file(name: &str, props: &str, strip_mfra: bool) -> PathBuf {
    let path = pipeline::temp_file(name, b"");
    pipeline::run_to_eos(
        &format!(
            "videotestsrc num-buffers={FRAMES} pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
             ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse \
             ! fragmp4mux name=m fragment-duration=1000000000 {props} ! filesink location={} \
             audiotestsrc num-buffers=220 ! audio/x-raw,rate=44100,channels=1 ! avenc_aac \
             ! aacparse ! m.",
            path.display()
        ),
        60,
    );
    let bytes = std::fs::read(&path).unwrap();
    let boxes = support::mp4::top_level_boxes(&bytes);
    let kinds: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
    if strip_mfra {
        let end = boxes
            .iter()
            .find(|b| b.0 == "mfra")
            .map_or(bytes.len(), |b| b.1);
        std::fs::write(&path, &bytes[..end]).unwrap();
    }
    assert!(kinds.contains(&"moof"), "{kinds:?}");
    path
}

fn digest(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

/// (PTS, pixels digest) of a decoded frame, or (PTS, size) of an audio buffer.
type Seen = (gst::ClockTime, u64);

struct Player {
    playbin: gst::Element,
    video: Arc<Mutex<Vec<Seen>>>,
    audio: Arc<Mutex<Vec<Seen>>>,
}

/// Records every buffer reaching `sink`; a FLUSH_STOP forgets what came before.
fn record(sink: &gst::Element, pixels: bool) -> Arc<Mutex<Vec<Seen>>> {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let s = seen.clone();
    sink.static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_FLUSH,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    let map = b.map_readable().unwrap();
                    let v = if pixels {
                        digest(&map)
                    } else {
                        map.len() as u64
                    };
                    s.lock().unwrap().push((b.pts().unwrap(), v));
                }
                Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::FlushStop => {
                    s.lock().unwrap().clear();
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}

impl Player {
    fn new(path: &Path, sync: bool) -> Self {
        support::init();
        let uri = gst::glib::filename_to_uri(path, None).unwrap();
        let sink = |name: &str| {
            gst::ElementFactory::make("fakesink")
                .name(name)
                .property("sync", sync)
                .build()
                .unwrap()
        };
        let (vsink, asink) = (sink("vsink"), sink("asink"));
        let video = record(&vsink, true);
        let audio = record(&asink, false);
        let playbin = gst::ElementFactory::make("playbin")
            .property("uri", uri.as_str())
            .property("video-sink", &vsink)
            .property("audio-sink", &asink)
            .build()
            .unwrap();
        Self {
            playbin,
            video,
            audio,
        }
    }

    fn wait(&self) {
        let (res, _, _) = self.playbin.state(gst::ClockTime::from_seconds(20));
        res.expect("state change");
    }

    /// The factory names of the elements playbin built (recursively).
    fn factories(&self) -> Vec<String> {
        let bin = self.playbin.downcast_ref::<gst::Bin>().unwrap();
        bin.iterate_recurse()
            .into_iter()
            .filter_map(|e| e.ok()?.factory().map(|f| f.name().to_string()))
            .collect()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.playbin.set_state(gst::State::Null);
    }
}

/// Plays the file to the end without seeking: every decoded frame.
fn linear(path: &Path) -> Vec<Seen> {
    let p = Player::new(path, false);
    p.playbin.set_state(gst::State::Playing).unwrap();
    pipeline::wait_for_eos(&p.playbin.bus().unwrap(), 60).unwrap();
    let frames = p.video.lock().unwrap().clone();
    assert_eq!(
        frames.len() as u64,
        FRAMES,
        "a linear play shows every frame"
    );
    frames
}

fn seeks_work(path: &Path, demuxer: &str, positions_ms: &[u64]) {
    support::init();
    let ours = gst::ElementFactory::find("fragmp4demux").unwrap();
    if demuxer == "fragmp4demux" {
        ours.set_rank(gst::Rank::PRIMARY + 10);
    }
    let frames = linear(path);
    let p = Player::new(path, true);
    p.playbin.set_state(gst::State::Paused).unwrap();
    p.wait();
    assert!(
        p.factories().iter().any(|f| f == demuxer),
        "{demuxer} not in {:?}",
        p.factories()
    );
    let frame = gst::ClockTime::from_nseconds(1_000_000_000 / 30);
    for &ms in positions_ms {
        let t = gst::ClockTime::from_mseconds(ms);
        p.playbin
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, t)
            .unwrap_or_else(|e| panic!("{demuxer}: seek to {t}: {e}"));
        p.wait();
        let position = p.playbin.query_position::<gst::ClockTime>().unwrap();
        assert!(
            position <= t && t - position < frame,
            "{demuxer}: position {position} after a seek to {t}"
        );
        // The frame a linear play shows at t, its start clipped to t by the decoder.
        let (pts, pixels) = *frames.iter().rev().find(|(pts, _)| *pts <= t).unwrap();
        let got = p.video.lock().unwrap().first().copied();
        assert_eq!(
            got,
            Some((pts.max(t), pixels)),
            "{demuxer}: first frame after a seek to {t}"
        );
        let audio = p.audio.lock().unwrap().first().copied().unwrap();
        let aac_frame = gst::ClockTime::from_nseconds(1024 * 1_000_000_000 / 44100 + 1);
        assert!(
            audio.0 <= t + aac_frame && t <= audio.0 + aac_frame,
            "{demuxer}: first audio at {} after a seek to {t}",
            audio.0
        );
    }
    // Then it plays on to the end.
    p.playbin.set_state(gst::State::Playing).unwrap();
    pipeline::wait_for_eos(&p.playbin.bus().unwrap(), 30).unwrap();
    ours.set_rank(gst::Rank::NONE);
}

#[test]
fn playbin_seeks_in_files_with_and_without_index() {
    let indexed = mux_file("playbin-sidx.mp4", "index=single", false);
    let bare = mux_file("playbin-bare.mp4", "", true);
    // Forward, back to the first fragment, near the end, on a keyframe, between frames.
    let table = [2300, 400, 4500, 1000, 3010];
    seeks_work(&bare, "fragmp4demux", &table);
    seeks_work(&indexed, "fragmp4demux", &table);
    seeks_work(&bare, "qtdemux", &table);
    // qtdemux 1.22 stamps the first fragment, after a seek back to it through the
    // `mfra`, with the `tfra` time (the sync sample's presentation time, ISO/IEC
    // 14496-12 8.8.10) as its decode time: two frames late here (tests/demux_seek.rs).
    seeks_work(&indexed, "qtdemux", &[2300, 4500, 1100, 3010]);
}
