//! `fragmp4moqsink`: a bin publishing `fragmp4mux` output to a Media over QUIC relay as a
//! broadcast (the moq-dev stack: `moq-mux` fMP4 import, `hang` catalog, `moq-tokio`
//! client), on the plugin's shared tokio runtime.

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod publisher;
pub mod queue;

glib::wrapper! {
    /// MoQ publisher sink (`fragmp4moqsink`).
    pub struct FragMp4MoqSink(ObjectSubclass<imp::FragMp4MoqSink>)
        @extends gst::Bin, gst::Element, gst::Object;
}

/// Registers `fragmp4moqsink` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "fragmp4moqsink",
        gst::Rank::NONE,
        FragMp4MoqSink::static_type(),
    )
}
