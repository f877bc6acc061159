//! Runs real pipelines through `fragmp4mux`, recording what enters each sink pad and
//! everything that leaves the element.

use gst::prelude::*;
use std::sync::{Arc, Mutex};

/// A buffer as it entered a muxer sink pad, with signed running times in ns.
#[derive(Debug, Clone)]
pub struct InBuf {
    pub data: Vec<u8>,
    pub dts: Option<i64>,
    pub pts: Option<i64>,
    pub keyframe: bool,
    /// Flagged HEADER: a codec header, not a sample.
    pub header: bool,
}

impl InBuf {
    /// DTS, or PTS where there is none (DESIGN.md T2).
    pub fn decode_time(&self) -> i64 {
        self.dts.or(self.pts).expect("timestamped input")
    }
    pub fn presentation_time(&self) -> i64 {
        self.pts.or(self.dts).expect("timestamped input")
    }
}

/// Everything that entered one sink pad.
#[derive(Debug, Clone)]
pub struct Input {
    pub pad: String,
    pub caps: Option<gst::Caps>,
    pub buffers: Vec<InBuf>,
}

impl Input {
    /// The structure of the pad's (last) caps.
    pub fn structure(&self) -> &gst::StructureRef {
        caps_structure(self.caps.as_ref(), &self.pad)
    }
}

/// One pushed output buffer.
#[derive(Debug, Clone)]
pub struct OutBuf {
    pub flags: gst::BufferFlags,
    pub size: usize,
    /// Memories the buffer holds (payload buffers carry up to 16 samples' memories).
    pub memories: usize,
    pub pts: Option<gst::ClockTime>,
    pub dts: Option<gst::ClockTime>,
    pub duration: Option<gst::ClockTime>,
}

/// Everything the muxer produced.
#[derive(Debug, Default)]
pub struct Output {
    pub bytes: Vec<u8>,
    /// One entry per pushed buffer list (or single buffer).
    pub pushes: Vec<Vec<OutBuf>>,
    pub caps: Option<gst::Caps>,
    pub messages: Vec<gst::Structure>,
}

impl Output {
    /// The structure of the muxer's src caps.
    pub fn structure(&self) -> &gst::StructureRef {
        caps_structure(self.caps.as_ref(), "src")
    }

    /// The `codecs` field of the src caps (RFC 6381 strings, comma-separated).
    pub fn codecs(&self) -> String {
        self.structure()
            .get::<String>("codecs")
            .expect("codecs field")
    }
}

fn caps_structure<'a>(caps: Option<&'a gst::Caps>, pad: &str) -> &'a gst::StructureRef {
    caps.and_then(|c| c.structure(0))
        .unwrap_or_else(|| panic!("{pad}: no caps"))
}

/// Waits up to `timeout_s` for EOS or an error on `bus`; `Err` describes anything but EOS.
pub fn wait_for_eos(bus: &gst::Bus, timeout_s: u64) -> Result<(), String> {
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(timeout_s),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        _ => Err(format!("{msg:?}")),
    }
}

fn signed(v: Option<gst::Signed<gst::ClockTime>>) -> Option<i64> {
    v.map(|v| match v {
        gst::Signed::Positive(t) => t.nseconds() as i64,
        gst::Signed::Negative(t) => -(t.nseconds() as i64),
    })
}

pub fn record_inputs(mux: &gst::Element) -> Vec<Arc<Mutex<Input>>> {
    mux.sink_pads()
        .into_iter()
        .map(|pad| {
            let input = Arc::new(Mutex::new(Input {
                pad: pad.name().to_string(),
                caps: None,
                buffers: Vec::new(),
            }));
            let rec = input.clone();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
                move |pad, info| {
                    match &info.data {
                        Some(gst::PadProbeData::Buffer(buf)) => {
                            let seg = pad
                                .sticky_event::<gst::event::Segment>(0)
                                .expect("segment before buffers");
                            let seg = seg
                                .segment()
                                .downcast_ref::<gst::ClockTime>()
                                .expect("time")
                                .clone();
                            let map = buf.map_readable().expect("readable");
                            rec.lock().unwrap().buffers.push(InBuf {
                                data: map.as_slice().to_vec(),
                                dts: signed(buf.dts().and_then(|t| seg.to_running_time_full(t))),
                                pts: signed(buf.pts().and_then(|t| seg.to_running_time_full(t))),
                                keyframe: !buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
                                header: buf.flags().contains(gst::BufferFlags::HEADER),
                            });
                        }
                        Some(gst::PadProbeData::Event(ev)) => {
                            if let gst::EventView::Caps(c) = ev.view() {
                                rec.lock().unwrap().caps = Some(c.caps_owned());
                            }
                        }
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                },
            );
            input
        })
        .collect()
}

fn out_buf(b: &gst::BufferRef) -> OutBuf {
    OutBuf {
        flags: b.flags(),
        size: b.size(),
        memories: b.n_memory(),
        pts: b.pts(),
        dts: b.dts(),
        duration: b.duration(),
    }
}

/// The result of running a pipeline to EOS or to an error.
pub struct Run {
    pub inputs: Vec<Input>,
    pub output: Output,
    /// The first error message: "element: error (debug)".
    pub error: Option<String>,
    /// The muxer's `stats` property at the end.
    pub stats: gst::Structure,
}

/// Runs `launch` (which must name the muxer `mux` and end in `appsink name=sink`) to EOS;
/// panics on a pipeline error.
pub fn run(launch: &str) -> (Vec<Input>, Output) {
    let r = run_with(launch, |_| {}, |_, _| {});
    if let Some(e) = r.error {
        panic!("pipeline {launch}: {e}");
    }
    (r.inputs, r.output)
}

/// Like [`run`], with `setup` called before PLAYING and `feed` after it (to push into
/// appsrc elements; it may watch the output as it grows). Errors are returned.
pub fn run_with(
    launch: &str,
    setup: impl FnOnce(&gst::Pipeline),
    feed: impl FnOnce(&gst::Pipeline, &Arc<Mutex<Output>>),
) -> Run {
    super::init();
    let pipeline = gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("pipeline {launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let mux = pipeline.by_name("mux").expect("element named mux");
    let inputs = record_inputs(&mux);
    let sink = pipeline
        .by_name("sink")
        .expect("appsink named sink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    sink.set_property("sync", false);
    sink.set_property("buffer-list", true);
    let output = Arc::new(Mutex::new(Output::default()));
    let out = output.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut o = out.lock().unwrap();
                if let Some(caps) = sample.caps() {
                    o.caps = Some(caps.to_owned());
                }
                let mut push = Vec::new();
                let mut append = |b: &gst::BufferRef, o: &mut Output| {
                    o.bytes
                        .extend_from_slice(&b.map_readable().expect("readable"));
                    push.push(out_buf(b));
                };
                if let Some(list) = sample.buffer_list() {
                    for b in list.iter() {
                        append(b, &mut o);
                    }
                } else if let Some(b) = sample.buffer() {
                    append(b, &mut o);
                }
                o.pushes.push(push);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    setup(&pipeline);
    // A refused state change posts its error on the bus, read below.
    let _ = pipeline.set_state(gst::State::Playing);
    feed(&pipeline, &output);
    let bus = pipeline.bus().expect("bus");
    let mut messages = Vec::new();
    let mut error = None;
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => {
                error = Some(format!(
                    "{}: {} ({:?})",
                    e.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    e.error(),
                    e.debug()
                ));
                break;
            }
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure()
                    && s.name() == "fragmp4mux-fragment"
                {
                    messages.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    let stats = mux.property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).expect("null");
    let mut output = std::mem::take(&mut *output.lock().unwrap());
    output.messages = messages;
    let inputs = inputs.iter().map(|i| i.lock().unwrap().clone()).collect();
    Run {
        inputs,
        output,
        error,
        stats,
    }
}

/// Waits up to 10 s until `output` holds `pushes` pushes; returns whether it did.
pub fn wait_for_pushes(output: &Arc<Mutex<Output>>, pushes: usize) -> bool {
    for _ in 0..1000 {
        if output.lock().unwrap().pushes.len() >= pushes {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Writes `bytes` to a fresh file in the temp directory and returns its path.
pub fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fragmp4-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

impl Output {
    /// The output split at each init segment (`HEADER` buffer): one byte range per init.
    pub fn segments(&self) -> Vec<&[u8]> {
        let mut starts = Vec::new();
        let mut pos = 0;
        for push in &self.pushes {
            for b in push {
                if b.flags.contains(gst::BufferFlags::HEADER) {
                    starts.push(pos);
                }
                pos += b.size;
            }
        }
        starts.push(self.bytes.len());
        starts.windows(2).map(|w| &self.bytes[w[0]..w[1]]).collect()
    }
}

/// Runs `launch` (no appsink needed) until EOS; panics on an error or after `timeout_s`.
pub fn run_to_eos(launch: &str, timeout_s: u64) {
    super::init();
    let p = gst::parse::launch(launch).unwrap_or_else(|e| panic!("pipeline {launch}: {e}"));
    p.set_state(gst::State::Playing).expect("playing");
    let result = wait_for_eos(&p.bus().expect("bus"), timeout_s);
    p.set_state(gst::State::Null).expect("null");
    if let Err(msg) = result {
        panic!("{launch}: {msg}");
    }
}

/// Runs `launch` to `state`, which must fail; returns the error message posted for it as
/// "error (debug)" text. Panics when the change succeeds or no error is posted.
pub fn refused(launch: &str, state: gst::State) -> String {
    super::init();
    let p = gst::parse::launch(launch).unwrap_or_else(|e| panic!("pipeline {launch}: {e}"));
    assert!(p.set_state(state).is_err(), "{launch}: not refused");
    let msg = p
        .bus()
        .expect("bus")
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .unwrap_or_else(|| panic!("{launch}: no error message"));
    let text = match msg.view() {
        gst::MessageView::Error(e) => format!("{} ({:?})", e.error(), e.debug()),
        _ => unreachable!(),
    };
    p.set_state(gst::State::Null).expect("null");
    text
}
