//! `fragmp4`: a GStreamer plugin muxing H.264/H.265 and AAC into fragmented MP4.

pub mod boxes;
pub mod codec;
pub mod fragmenter;
mod fragmp4mux;
pub mod hls;

gst::plugin_define!(
    fragmp4,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    fragmp4mux::register(plugin)?;
    hls::register(plugin)
}
