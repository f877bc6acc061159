//! Runs bytes through `fragmp4demux` from an appsrc, in pieces of a chosen size, and
//! records what every src pad pushed.

use gst::prelude::*;
use std::sync::{Arc, Mutex};

/// One buffer pushed by a src pad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemuxBuf {
    pub data: Vec<u8>,
    pub pts: Option<gst::ClockTime>,
    pub dts: Option<gst::ClockTime>,
    pub duration: Option<gst::ClockTime>,
    pub delta: bool,
    pub header: bool,
}

/// Everything one src pad pushed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DemuxPad {
    pub name: String,
    /// Every distinct caps, in order.
    pub caps: Vec<gst::Caps>,
    pub buffers: Vec<DemuxBuf>,
    pub segment_start: Option<gst::ClockTime>,
}

impl DemuxPad {
    /// All bytes pushed, concatenated (passthrough: a whole fMP4 stream).
    pub fn bytes(&self) -> Vec<u8> {
        self.buffers.iter().flat_map(|b| b.data.clone()).collect()
    }
}

pub struct Demuxed {
    /// Sorted by pad name.
    pub pads: Vec<DemuxPad>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub stats: gst::Structure,
    /// `fragmp4demux-fragment` element messages, in order.
    pub fragments: Vec<gst::Structure>,
}

impl Demuxed {
    pub fn pad(&self, name: &str) -> &DemuxPad {
        self.pads
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pad {name}"))
    }

    /// The per-track statistics structure of pad `name`.
    pub fn track_stats(&self, name: &str) -> gst::Structure {
        let tracks = self.stats.get::<gst::Array>("tracks").expect("tracks");
        tracks
            .iter()
            .map(|v| v.get::<gst::Structure>().unwrap())
            .find(|s| s.get::<String>("pad").unwrap() == name)
            .unwrap_or_else(|| panic!("no stats for {name}"))
    }
}

/// Feeds `bytes` in pieces of `step` bytes into `fragmp4demux {props}` and collects the
/// output of every pad until EOS or an error.
pub fn demux(bytes: &[u8], step: usize, props: &str) -> Demuxed {
    run_demux("appsrc name=src format=bytes", Some((bytes, step)), props)
}

/// Reads `path` with `filesrc ! fragmp4demux {props}` (pull mode).
pub fn demux_file(path: &std::path::Path, props: &str) -> Demuxed {
    run_demux(&format!("filesrc location={}", path.display()), None, props)
}

/// Writes `bytes` into an OS pipe read by `fdsrc ! fragmp4demux {props}` (push mode, as
/// from `ffmpeg ... -f mp4 - | gst-launch-1.0 fdsrc ...`).
pub fn demux_pipe(bytes: &[u8], props: &str) -> Demuxed {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let (reader, mut writer) = std::io::pipe().expect("a pipe");
    let data = bytes.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = writer.write_all(&data);
        // Dropping the writer closes the pipe: fdsrc sees EOF.
    });
    let d = run_demux(&format!("fdsrc fd={}", reader.as_raw_fd()), None, props);
    feeder.join().expect("feeder");
    drop(reader);
    d
}

fn run_demux(source: &str, feed: Option<(&[u8], usize)>, props: &str) -> Demuxed {
    super::init();
    let pipeline = gst::parse::launch(&format!("{source} ! fragmp4demux name=demux {props}"))
        .expect("demux pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
    let pads: Arc<Mutex<Vec<Arc<Mutex<DemuxPad>>>>> = Arc::default();
    let demux = pipeline.by_name("demux").unwrap();
    let weak = pipeline.downgrade();
    let collected = pads.clone();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let sink = gst_app::AppSink::builder().sync(false).build();
        let record = Arc::new(Mutex::new(DemuxPad {
            name: pad.name().to_string(),
            ..Default::default()
        }));
        collected.lock().unwrap().push(record.clone());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let mut r = record.lock().unwrap();
                    if let Some(caps) = sample.caps()
                        && r.caps.last().is_none_or(|c| c != caps)
                    {
                        r.caps.push(caps.to_owned());
                    }
                    if r.segment_start.is_none() {
                        r.segment_start = sample
                            .segment()
                            .and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned())
                            .and_then(|s| s.start());
                    }
                    let b = sample.buffer().ok_or(gst::FlowError::Error)?;
                    r.buffers.push(DemuxBuf {
                        data: b.map_readable().unwrap().to_vec(),
                        pts: b.pts(),
                        dts: b.dts(),
                        duration: b.duration(),
                        delta: b.flags().contains(gst::BufferFlags::DELTA_UNIT),
                        header: b.flags().contains(gst::BufferFlags::HEADER),
                    });
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        // A queue per pad, as behind any demuxer: a sink that prerolls must not block
        // the other pads (producers may write one moof per track).
        let queue = gst::ElementFactory::make("queue").build().unwrap();
        pipeline.add_many([&queue, sink.upcast_ref()]).unwrap();
        queue.link(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        queue.sync_state_with_parent().unwrap();
        pad.link(&queue.static_pad("sink").unwrap()).unwrap();
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    if let Some((bytes, step)) = feed {
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        src.set_max_bytes(0);
        for piece in bytes.chunks(step.max(1)) {
            if src
                .push_buffer(gst::Buffer::from_slice(piece.to_vec()))
                .is_err()
            {
                break;
            }
        }
        let _ = src.end_of_stream();
    }
    let mut error = None;
    let mut warnings = Vec::new();
    let mut fragments = Vec::new();
    let bus = pipeline.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!("{} ({:?})", e.error(), e.debug()));
                break;
            }
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "fragmp4demux-fragment"
                {
                    fragments.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    if error.is_some() {
        // What the demuxer pushed before its error may still sit in the queues.
        drain_queues(&pipeline);
    }
    let stats = demux.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    let mut pads: Vec<DemuxPad> = pads
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.lock().unwrap().clone())
        .collect();
    pads.sort_by(|a, b| a.name.cmp(&b.name));
    Demuxed {
        pads,
        error,
        warnings,
        stats,
        fragments,
    }
}

/// Demuxes `path` with `fragmp4demux` and decodes each named pad with decodebin;
/// returns the decoded frame counts.
pub fn decode(path: &std::path::Path, pads: &[&str]) -> Vec<u64> {
    super::judges::demux_decode(path, "fragmp4demux", pads)
        .iter()
        .map(|d| d.frames)
        .collect()
}

/// Waits (at most 2 s) until every `queue` of `pipeline` is empty, and a little for the
/// buffer each may be handing to its sink.
fn drain_queues(pipeline: &gst::Pipeline) {
    let queues: Vec<gst::Element> = pipeline
        .iterate_elements()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.factory().is_some_and(|f| f.name() == "queue"))
        .collect();
    for _ in 0..200 {
        if queues
            .iter()
            .all(|q| q.property::<u32>("current-level-buffers") == 0)
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
}
