//! Timed events (`emsg`) given back: the same custom downstream event `fragmp4mux` takes
//! (`fragmp4-event`), on every src pad, and an element message `fragmp4demux-event`.

use gst::subclass::prelude::*;

use super::{FragMp4Demux, Out, State};
use crate::boxes::emsg::{EmsgTime, ParsedEmsg, UNKNOWN_DURATION};
use crate::fragmp4demux::output::ticks_to_time;

impl FragMp4Demux {
    /// An `emsg` read from the stream. Version 1 times become `presentation-time` (ns, on
    /// the timeline of the buffers' timestamps); version 0 gives `presentation-time-delta`
    /// (ns from the earliest presentation time of the fragment that follows).
    pub(super) fn on_emsg(&self, state: &State, e: ParsedEmsg, outs: &mut Vec<Out>) {
        let ts = e.timescale.max(1);
        let mut b = gst::Structure::builder("fragmp4-event")
            .field("scheme-id-uri", e.scheme_id_uri.as_str())
            .field("value", e.value.as_str())
            .field("id", e.id)
            .field("timescale", e.timescale)
            .field("data", gst::Buffer::from_mut_slice(e.message_data));
        b = match e.time {
            EmsgTime::Absolute(t) => b.field("presentation-time", ticks_to_time(t, ts).nseconds()),
            EmsgTime::Delta(d) => b.field(
                "presentation-time-delta",
                ticks_to_time(u64::from(d), ts).nseconds(),
            ),
        };
        if e.duration != UNKNOWN_DURATION {
            b = b.field(
                "duration",
                ticks_to_time(u64::from(e.duration), ts).nseconds(),
            );
        }
        let s = b.build();
        gst::debug!(super::CAT, imp = self, "event {}", s);
        for p in &state.pads {
            outs.push(Out::Event(
                p.pad.clone(),
                gst::event::CustomDownstream::new(s.clone()),
            ));
        }
        let mut m = s;
        m.set_name("fragmp4demux-event");
        outs.push(Out::Message(
            gst::message::Element::builder(m).src(&*self.obj()).build(),
        ));
    }
}
