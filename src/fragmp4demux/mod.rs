//! The `fragmp4demux` element: a push-mode fragmented MP4 demuxer and per-track splitter.

use gst::glib;
use gst::prelude::*;

mod imp;
mod output;
mod protection;
mod source;

glib::wrapper! {
    /// Fragmented MP4 demuxer (`fragmp4demux`).
    pub struct FragMp4Demux(ObjectSubclass<imp::FragMp4Demux>)
        @extends gst::Element, gst::Object;
}

/// Registers `fragmp4demux` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "fragmp4demux",
        gst::Rank::NONE,
        FragMp4Demux::static_type(),
    )
}
