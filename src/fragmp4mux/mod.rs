//! The `fragmp4mux` element: registration and public type.

use gst::glib;
use gst::prelude::*;

mod emit;
mod events;
mod imp;
mod index;
mod input;
mod output;
mod pad;
mod progressive;
mod protect;
mod recording;
mod state;
mod subtitles;
mod tags;

pub(crate) use events::meta_sink_caps;
pub(crate) use imp::{audio_sink_caps, video_sink_caps};
pub use pad::FragMp4MuxPad;
pub(crate) use protect::{Encryption, param_specs as encryption_param_specs};
pub(crate) use subtitles::subtitle_sink_caps;

glib::wrapper! {
    /// Fragmented MP4 muxer (`fragmp4mux`).
    pub struct FragMp4Mux(ObjectSubclass<imp::FragMp4Mux>)
        @extends gst_base::Aggregator, gst::Element, gst::Object;
}

/// Registers `fragmp4mux` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    FragMp4MuxPad::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "fragmp4mux",
        gst::Rank::PRIMARY,
        FragMp4Mux::static_type(),
    )
}
