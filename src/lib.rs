//! `fragmp4`: a GStreamer plugin muxing into and demuxing fragmented MP4 (fMP4 / CMAF).

pub mod boxes;
pub mod codec;
mod construct;
pub mod dash;
pub mod demux;
pub mod encrypt;
pub mod events;
pub mod fragmenter;
mod fragmp4demux;
mod fragmp4mux;
pub mod hls;
pub mod language;
#[cfg(feature = "moq")]
pub mod moq;
pub mod origin;
pub mod recover;
pub mod runtime;
pub mod subtitles;

gst::plugin_define!(
    fragmp4,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // No project URL to point at: the origin is the crate itself.
    concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")),
    env!("BUILD_REL_DATE")
);

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    fragmp4mux::register(plugin)?;
    fragmp4demux::register(plugin)?;
    #[cfg(feature = "moq")]
    moq::register(plugin)?;
    hls::register(plugin)?;
    dash::register(plugin)
}
