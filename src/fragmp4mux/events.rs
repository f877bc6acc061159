//! Timed events in the muxer: `meta_%u` pads (ID3v2 tags, SCTE-35 splice info), the
//! `insert-event` action signal and the custom downstream event; each chunk gets the
//! `emsg` boxes of the events that start in it, before its `moof`.
//!
//! Meta pads are not tracks: they are read empty on every wake-up and never hold back
//! a fragment (a meta pad without data is not a stalled pad).

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;

use super::imp::{CAT, FragMp4Mux};
use super::pad::FragMp4MuxPad;
use super::state::*;
use super::subtitles::is_subtitle_pad;
use crate::events::{
    EmsgVersion, Event, EventError, EventQueue, ID3_SCHEME, SCTE35_SCHEME, Timeline, emsg_boxes,
    id3, scte35,
};

/// Name of the custom downstream event (and its structure) that inserts an event.
pub const EVENT_STRUCTURE: &str = "fragmp4-event";

/// The caps of the `meta_%u` pads.
pub(crate) fn meta_sink_caps() -> gst::Caps {
    let mut caps = gst::Caps::new_empty_simple("meta/x-id3");
    caps.merge(gst::Caps::new_empty_simple("application/x-scte35"));
    caps
}

/// What a meta pad carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MetaKind {
    Id3,
    Scte35,
}

pub(super) struct MetaPad {
    pub(super) pad: FragMp4MuxPad,
    kind: Option<MetaKind>,
}

/// The element's events: meta pads, what waits to be written, counters.
#[derive(Default)]
pub(super) struct EventState {
    pub(super) pads: Vec<MetaPad>,
    queue: EventQueue,
    next_id3_id: u32,
    pub(super) written: u64,
    pub(super) dropped: u64,
}

impl EventState {
    /// Forgets queued events, keeps the pads.
    pub(super) fn reset(&mut self) {
        let pads = std::mem::take(&mut self.pads);
        *self = EventState {
            pads,
            ..Default::default()
        };
    }

    pub(super) fn add_pad(&mut self, pad: FragMp4MuxPad) {
        self.pads.push(MetaPad { pad, kind: None });
    }

    pub(super) fn remove_pad(&mut self, pad: &gst::Pad) {
        self.pads.retain(|p| p.pad.upcast_ref::<gst::Pad>() != pad);
    }
}

/// True when every track pad is at EOS while meta pads remain: a live aggregator would
/// wait for those (they never count as ready when empty), so it must time out at once.
pub(super) fn only_meta_pads_left(state: &State) -> bool {
    let sparse = |p: &&PadTrack| is_subtitle_pad(&p.pad);
    let mut dense = state.pads.iter().filter(|p| !sparse(p)).peekable();
    (!state.events.pads.is_empty() || state.pads.iter().any(|p| sparse(&p)))
        && dense.peek().is_some()
        && dense.all(|p| p.pad.is_eos())
}

/// True when every track pad has data or is at EOS: a live timeout then only waited
/// for empty meta pads (an empty meta pad never counts as ready to the aggregator), and
/// must not be taken for a stall of the tracks.
pub(super) fn tracks_ready(state: &State) -> bool {
    let sparse = |p: &PadTrack| is_subtitle_pad(&p.pad);
    (!state.events.pads.is_empty() || state.pads.iter().any(sparse))
        && state
            .pads
            .iter()
            .filter(|p| !sparse(p))
            .all(|p| p.pad.has_buffer() || p.pad.is_eos())
}

/// The `emsg-version` property.
pub(super) fn param_specs() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecUInt::builder("emsg-version")
            .nick("emsg version")
            .blurb("Version of the emsg boxes: 1 = absolute presentation times on the first video track's timescale (else the first track's), 0 = delays from each chunk's earliest presentation time")
            .minimum(0)
            .maximum(1)
            .default_value(1)
            .mutable_ready()
            .build(),
    ]
}

/// The `insert-event` action signal: scheme-id-uri, value, presentation-time (running
/// time, ns), duration (ns, `GST_CLOCK_TIME_NONE` = unknown), id, data. Returns whether
/// the event was queued.
pub(super) fn insert_event_signal() -> glib::subclass::Signal {
    glib::subclass::Signal::builder("insert-event")
        .param_types([
            String::static_type(),
            String::static_type(),
            u64::static_type(),
            u64::static_type(),
            u32::static_type(),
            glib::Bytes::static_type(),
        ])
        .return_type::<bool>()
        .action()
        .class_handler(|args| {
            let obj = args[0].get::<super::FragMp4Mux>().ok()?;
            let scheme: String = args[1].get().ok()?;
            let value: Option<String> = args[2].get().ok()?;
            let time: u64 = args[3].get().ok()?;
            let duration: u64 = args[4].get().ok()?;
            let id: u32 = args[5].get().ok()?;
            let data: Option<glib::Bytes> = args[6].get().ok()?;
            let event = Event {
                scheme_id_uri: scheme,
                value: value.unwrap_or_default(),
                time: time.min(i64::MAX as u64) as i64,
                duration: (duration != u64::MAX).then_some(duration),
                id,
                data: data.map(|d| d.to_vec()).unwrap_or_default(),
            };
            Some(obj.imp().queue_event(event, "insert-event").to_value())
        })
        .build()
}

/// An event from the fields of a [`EVENT_STRUCTURE`] structure.
fn event_from_structure(s: &gst::StructureRef) -> Result<Event, &'static str> {
    let scheme = s
        .get::<String>("scheme-id-uri")
        .map_err(|_| "no scheme-id-uri string")?;
    let time = s
        .get::<u64>("presentation-time")
        .map_err(|_| "no presentation-time (guint64 ns)")?;
    let duration = match s.get_optional::<u64>("duration") {
        Ok(d) => d.filter(|d| *d != u64::MAX),
        Err(_) => return Err("duration is not a guint64"),
    };
    let data = if let Ok(b) = s.get::<gst::Buffer>("data") {
        b.map_readable().map_err(|_| "data unreadable")?.to_vec()
    } else if let Ok(b) = s.get::<glib::Bytes>("data") {
        b.to_vec()
    } else if let Ok(t) = s.get::<String>("data") {
        t.into_bytes()
    } else {
        Vec::new()
    };
    Ok(Event {
        scheme_id_uri: scheme,
        value: s.get::<String>("value").unwrap_or_default(),
        time: time.min(i64::MAX as u64) as i64,
        duration,
        id: s.get::<u32>("id").unwrap_or(0),
        data,
    })
}

impl FragMp4Mux {
    /// Queues an event for the chunk in which it starts.
    pub(super) fn queue_event(&self, event: Event, from: &str) -> bool {
        if event.scheme_id_uri.is_empty() {
            gst::warning!(
                CAT,
                imp = self,
                "{}: {}: dropped",
                from,
                EventError::NoScheme
            );
            self.with_state(|s| s.events.dropped += 1);
            return false;
        }
        gst::debug!(
            CAT,
            imp = self,
            "{}: event {} of {} at {} ns, {} bytes",
            from,
            event.id,
            event.scheme_id_uri,
            event.time,
            event.data.len()
        );
        self.with_state(|s| s.events.queue.push(event));
        true
    }

    /// Handles the events of meta pads (caps) and the custom event on any pad; returns
    /// `Some(handled)` when the event was ours.
    pub(super) fn events_sink_event(
        &self,
        pad: &gst_base::AggregatorPad,
        event: &gst::Event,
    ) -> Option<bool> {
        if let gst::EventView::CustomDownstream(c) = event.view()
            && let Some(s) = c.structure()
            && s.name() == EVENT_STRUCTURE
        {
            return Some(match event_from_structure(s) {
                Ok(e) => self.queue_event(e, &format!("custom event on {}", pad.name())),
                Err(why) => {
                    gst::warning!(CAT, obj = pad, "{} event refused: {}", EVENT_STRUCTURE, why);
                    self.with_state(|s| s.events.dropped += 1);
                    false
                }
            });
        }
        let gst::EventView::Caps(c) = event.view() else {
            return None;
        };
        self.with_state(|s| {
            let meta = s
                .events
                .pads
                .iter_mut()
                .find(|p| p.pad.upcast_ref::<gst_base::AggregatorPad>() == pad)?;
            let kind = match c.caps().structure(0).map(|s| s.name().as_str()) {
                Some("meta/x-id3") => MetaKind::Id3,
                Some("application/x-scte35") => MetaKind::Scte35,
                _ => return Some(false),
            };
            gst::info!(CAT, obj = pad, "meta pad carries {:?}", kind);
            meta.kind = Some(kind);
            // Caps on a meta pad are ours alone; the aggregator need not see them.
            Some(true)
        })
    }

    /// Reads every meta pad empty into the event queue. Bad items are dropped with a
    /// warning and counted.
    pub(super) fn drain_meta_pads(&self, state: &mut State) {
        for i in 0..state.events.pads.len() {
            let pad = state.events.pads[i].pad.clone();
            let kind = state.events.pads[i].kind;
            let mut segment: Option<gst::Segment> = None;
            while let Some(buf) = pad.pop_buffer() {
                if buf.flags().contains(gst::BufferFlags::GAP) {
                    continue;
                }
                let segment = segment.get_or_insert_with(|| pad.segment());
                match meta_event(&mut state.events, kind, &buf, segment) {
                    Ok(event) => {
                        gst::debug!(
                            CAT,
                            obj = pad,
                            "event {} of {} at {} ns, duration {:?} ns",
                            event.id,
                            event.scheme_id_uri,
                            event.time,
                            event.duration
                        );
                        state.events.queue.push(event);
                    }
                    Err(why) => {
                        gst::warning!(CAT, obj = pad, "dropping meta buffer: {}", why);
                        state.events.dropped += 1;
                    }
                }
            }
        }
    }

    /// The `emsg` boxes for a chunk presented from `start` to `end` (running time, ns):
    /// the events that start before `end`, late ones included.
    pub(super) fn chunk_events(&self, state: &mut State, start: i64, end: i64) -> Vec<u8> {
        if state.events.queue.is_empty() {
            return Vec::new();
        }
        let events = state.events.queue.take_before(end);
        if events.is_empty() {
            return Vec::new();
        }
        let settings = self.settings();
        let timescale = state
            .pads
            .iter()
            .filter_map(|p| p.latest())
            .find(|f| f.is_video)
            .or_else(|| state.pads.iter().find_map(|p| p.latest()))
            .map_or(1000, |f| f.timescale);
        let origin = state.fragmenter.origin().unwrap_or(0);
        let timeline = Timeline {
            timescale,
            zero: origin.saturating_sub(settings.decode_time_offset as i64),
        };
        let version = if settings.emsg_version == 0 {
            EmsgVersion::V0
        } else {
            EmsgVersion::V1
        };
        let (bytes, clamped) = emsg_boxes(&events, timeline, version, start);
        if clamped > 0 {
            gst::warning!(
                CAT,
                imp = self,
                "{} event times lie before what emsg version {} can express: written at its earliest",
                clamped,
                settings.emsg_version
            );
        }
        gst::debug!(
            CAT,
            imp = self,
            "{} emsg boxes ({} bytes) before the chunk at {} ns",
            events.len(),
            bytes.len(),
            start
        );
        state.events.written += events.len() as u64;
        bytes
    }

    /// At the end of the stream: events no chunk took (they start after the last one
    /// ended) are dropped and counted.
    pub(super) fn drop_leftover_events(&self, state: &mut State) {
        let left = state.events.queue.take_all();
        if !left.is_empty() {
            let why = if state.mode == Mode::Progressive {
                "mode=progressive writes no emsg"
            } else {
                "they start after the end of the stream"
            };
            gst::warning!(
                CAT,
                imp = self,
                "{} events dropped (first at {} ns): {}",
                left.len(),
                left[0].time,
                why
            );
            state.events.dropped += left.len() as u64;
        }
    }
}

/// The event of one meta pad buffer, checked.
fn meta_event(
    events: &mut EventState,
    kind: Option<MetaKind>,
    buf: &gst::Buffer,
    segment: &gst::Segment,
) -> Result<Event, String> {
    let Some(kind) = kind else {
        return Err("no caps".into());
    };
    let Some(pts) = buf.pts() else {
        return Err("no PTS: an event needs its time".into());
    };
    let time = segment
        .downcast_ref::<gst::ClockTime>()
        .and_then(|s| s.to_running_time_full(pts))
        .map(signed_ns)
        .ok_or("PTS outside the segment")?;
    let map = buf.map_readable().map_err(|_| "unreadable buffer")?;
    match kind {
        MetaKind::Id3 => {
            let len = id3::check_tag(&map).map_err(|e| e.to_string())?;
            let id = events.next_id3_id;
            events.next_id3_id = id.wrapping_add(1);
            Ok(Event {
                scheme_id_uri: ID3_SCHEME.into(),
                value: String::new(),
                time,
                duration: buf.duration().map(|d| d.nseconds()),
                id,
                data: map[..len].to_vec(),
            })
        }
        MetaKind::Scte35 => {
            let info = scte35::parse_section(&map).map_err(|e| e.to_string())?;
            let len = 3 + ((usize::from(map[1] & 0x0f) << 8) | usize::from(map[2]));
            Ok(Event {
                scheme_id_uri: SCTE35_SCHEME.into(),
                value: String::new(),
                time,
                duration: info.duration_ns().or(buf.duration().map(|d| d.nseconds())),
                id: info.event_id.unwrap_or(0),
                data: map[..len].to_vec(),
            })
        }
    }
}
