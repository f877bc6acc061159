//! `fragmp4dashsink`: a bin writing an MPEG-DASH presentation (MPD, init and media
//! segments per track) from one `fragmp4mux` per track, optionally served by the
//! plugin's HTTP origin, live (dynamic MPD) or on demand (static MPD at EOS).

use gst::glib;
use gst::prelude::*;

mod imp;
pub mod mpd;
pub mod presentation;
mod props;
mod tracks;

pub use props::SegmentAddressing;

glib::wrapper! {
    /// DASH sink writing per-track CMAF segments and an MPD (`fragmp4dashsink`).
    pub struct FragMp4DashSink(ObjectSubclass<imp::FragMp4DashSink>)
        @extends gst::Bin, gst::Element, gst::Object;
}

/// Registers `fragmp4dashsink` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "fragmp4dashsink",
        gst::Rank::NONE,
        FragMp4DashSink::static_type(),
    )
}
