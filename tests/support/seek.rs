//! Seeks a demuxer in a paused pipeline and records, per pad, the first buffer and the
//! segment after each seek: the same table for `fragmp4demux` and `qtdemux` is compared.

use gst::prelude::*;

/// One seek: position, optional stop, flags (FLUSH is always added).
#[derive(Debug, Clone, Copy)]
pub struct Seek {
    pub start: gst::ClockTime,
    pub stop: Option<gst::ClockTime>,
    pub flags: gst::SeekFlags,
}

/// The first buffer a pad prerolled after a seek, and its segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    pub pad: String,
    pub size: usize,
    pub digest: u64,
    pub pts: Option<gst::ClockTime>,
    pub dts: Option<gst::ClockTime>,
    pub key: bool,
    pub start: Option<gst::ClockTime>,
    pub stop: Option<gst::ClockTime>,
    pub time: Option<gst::ClockTime>,
    pub rate: String,
    pub flags: gst::SegmentFlags,
}

/// What a demuxer answered before seeking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub duration: Option<gst::ClockTime>,
    pub seekable: bool,
}

/// A paused `{source} ! {demux}` pipeline with an appsink per pad.
pub struct Paused {
    pub pipeline: gst::Pipeline,
    sinks: Sinks,
}

type Record = std::sync::Arc<
    std::sync::Mutex<(Option<gst::FormattedSegment<gst::ClockTime>>, Option<After>)>,
>;
type Sinks = std::sync::Arc<std::sync::Mutex<Vec<(String, gst_app::AppSink, Record)>>>;

fn digest(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

impl Paused {
    pub fn new(source: &str, demux: &str) -> Self {
        super::init();
        let pipeline = gst::parse::launch(&format!("{source} ! {demux} name=demux"))
            .expect("pipeline")
            .downcast::<gst::Pipeline>()
            .unwrap();
        let sinks: Sinks = Default::default();
        let d = pipeline.by_name("demux").unwrap();
        let weak = pipeline.downgrade();
        let s2 = sinks.clone();
        d.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let queue = gst::ElementFactory::make("queue")
                .property("max-size-time", 0u64)
                .property("max-size-bytes", 0u32)
                .property("max-size-buffers", 0u32)
                .build()
                .unwrap();
            let sink = gst_app::AppSink::builder().sync(false).build();
            pipeline.add_many([&queue, sink.upcast_ref()]).unwrap();
            queue.link(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            queue.sync_state_with_parent().unwrap();
            pad.link(&queue.static_pad("sink").unwrap()).unwrap();
            // The first buffer after each segment, before any sink clips it.
            let first: Record = Default::default();
            let f2 = first.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
                move |pad, info| {
                    let mut r = f2.lock().unwrap();
                    match &info.data {
                        Some(gst::PadProbeData::Event(e)) => {
                            if let gst::EventView::Segment(s) = e.view() {
                                r.0 = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                                r.1 = None;
                            }
                        }
                        Some(gst::PadProbeData::Buffer(b)) if r.1.is_none() => {
                            let seg = r.0.clone().unwrap_or_default();
                            let map = b.map_readable().unwrap();
                            r.1 = Some(After {
                                pad: pad.name().to_string(),
                                size: map.len(),
                                digest: digest(&map),
                                pts: b.pts(),
                                dts: b.dts(),
                                key: !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
                                start: seg.start(),
                                stop: seg.stop(),
                                time: seg.time(),
                                rate: format!("{}", seg.rate()),
                                flags: seg.flags(),
                            });
                        }
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            s2.lock()
                .unwrap()
                .push((pad.name().to_string(), sink, first));
        });
        let (tx, rx) = std::sync::mpsc::channel();
        d.connect_no_more_pads(move |_| {
            let _ = tx.send(());
        });
        pipeline.set_state(gst::State::Paused).unwrap();
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("no-more-pads");
        let (res, _, _) = pipeline.state(gst::ClockTime::from_seconds(20));
        res.expect("prerolled");
        Self { pipeline, sinks }
    }

    pub fn answers(&self) -> Answers {
        let mut q = gst::query::Duration::new(gst::Format::Time);
        let duration = if self.pipeline.query(&mut q) {
            q.result().try_into().ok().flatten()
        } else {
            None
        };
        let mut q = gst::query::Seeking::new(gst::Format::Time);
        let seekable = self.pipeline.query(&mut q) && q.result().0;
        Answers { duration, seekable }
    }

    /// The first buffer and segment of each pad before any seek.
    pub fn initial(&self) -> Vec<After> {
        let mut out: Vec<After> = self
            .sinks
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(_, _, r)| r.lock().unwrap().1.clone())
            .collect();
        out.sort_by(|a, b| a.pad.cmp(&b.pad));
        out
    }

    /// Performs `seek` (flushing) and returns what each pad prerolled, sorted by pad;
    /// `None` when the seek was refused.
    pub fn seek(&self, seek: &Seek) -> Option<Vec<After>> {
        let stop_type = if seek.stop.is_some() {
            gst::SeekType::Set
        } else {
            gst::SeekType::None
        };
        for (_, _, r) in self.sinks.lock().unwrap().iter() {
            *r.lock().unwrap() = (None, None);
        }
        if !self.pipeline.send_event(gst::event::Seek::new(
            1.0,
            seek.flags | gst::SeekFlags::FLUSH,
            gst::SeekType::Set,
            seek.start,
            stop_type,
            seek.stop,
        )) {
            return None;
        }
        let (res, _, _) = self.pipeline.state(gst::ClockTime::from_seconds(20));
        res.ok()?;
        let mut out = Vec::new();
        for (name, sink, record) in self.sinks.lock().unwrap().iter() {
            // Prerolled (or EOS): the first buffer has passed the pad.
            let _ = sink.try_pull_preroll(gst::ClockTime::from_seconds(5));
            let r = record.lock().unwrap();
            out.push(r.1.clone().unwrap_or_else(|| After {
                pad: format!("{name} (nothing)"),
                size: 0,
                digest: 0,
                pts: None,
                dts: None,
                key: false,
                start: r.0.as_ref().and_then(|s| s.start()),
                stop: r.0.as_ref().and_then(|s| s.stop()),
                time: r.0.as_ref().and_then(|s| s.time()),
                rate: String::new(),
                flags: gst::SegmentFlags::empty(),
            }));
        }
        out.sort_by(|a, b| a.pad.cmp(&b.pad));
        Some(out)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
