//! `fragmp4hlssink`: a bin writing an HLS presentation (init segment, fMP4 segments,
//! media and multivariant playlists) from `fragmp4mux`.

use gst::glib;
use gst::prelude::*;

pub mod cues;
pub mod daterange;
mod imp;
mod live;
pub mod ll_playlist;
pub mod parts;
pub mod playlist;
mod props;
pub mod subtitles;

pub use props::DEFAULT_HEADER_TIMEOUT;
mod window;
mod writer;

glib::wrapper! {
    /// HLS sink writing fMP4 segments and playlists (`fragmp4hlssink`).
    pub struct FragMp4HlsSink(ObjectSubclass<imp::FragMp4HlsSink>)
        @extends gst::Bin, gst::Element, gst::Object;
}

/// Registers `fragmp4hlssink` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "fragmp4hlssink",
        gst::Rank::NONE,
        FragMp4HlsSink::static_type(),
    )
}
