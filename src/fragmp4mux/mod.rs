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
mod prft;
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

impl FragMp4Mux {
    /// Pairs running time `running_ns` with UTC `utc_ms` (ms since the Unix epoch) for
    /// `prft` boxes, unless a pairing is already in use (kept until the element stops).
    pub(crate) fn set_utc_mapping(&self, running_ns: u64, utc_ms: i64) {
        use gst::subclass::prelude::ObjectSubclassIsExt;
        self.imp().set_utc_mapping(running_ns, utc_ms);
    }
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
