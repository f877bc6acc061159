//! Shared test support: the plugin registration, pipelines, an independent parser and
//! the checks of the output contract.
#![allow(dead_code)]

pub mod cenc;
pub mod check;
pub mod demux;
pub mod foreign;
pub mod http;
pub mod judges;
pub mod mp4;
pub mod pipeline;
pub mod prft;
pub mod progressive;
pub mod seek;
pub mod synth;

use std::sync::Once;

/// Initialises GStreamer and registers this crate's plugin once per process.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("gstreamer init");
        gstfragmp4::plugin_register_static().expect("register fragmp4");
    });
}
