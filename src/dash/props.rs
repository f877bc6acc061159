//! The properties of `fragmp4dashsink`, as gst-inspect shows them.

use gst::glib;
use gst::prelude::*;

use super::mpd::Addressing;

/// `fragment-duration` by default (ns).
pub const DEFAULT_FRAGMENT: u64 = 2_000_000_000;

/// The `segment-addressing` property: how the `SegmentTemplate` names media segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstFragMp4DashSegmentAddressing")]
pub enum SegmentAddressing {
    #[default]
    #[enum_value(name = "$Number$: segments numbered from startNumber", nick = "number")]
    Number,
    #[enum_value(name = "$Time$: segments named by their S@t", nick = "time")]
    Time,
}

impl From<SegmentAddressing> for Addressing {
    fn from(a: SegmentAddressing) -> Self {
        match a {
            SegmentAddressing::Number => Addressing::Number,
            SegmentAddressing::Time => Addressing::Time,
        }
    }
}

/// Every property with its range, default and description.
pub fn param_specs() -> Vec<glib::ParamSpec> {
    let mut specs = vec![
        glib::ParamSpecString::builder("location")
            .nick("Location")
            .blurb("Directory the MPD, init and media segments are written into (must exist); unset: the current directory, or no files when http-port serves the presentation")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("manifest-name")
            .nick("Manifest name")
            .blurb("File name of the MPD in the location directory and on the server")
            .default_value(Some("manifest.mpd"))
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("fragment-duration")
            .nick("Fragment duration")
            .blurb("Segment duration aimed at (ns): a segment ends at the first video keyframe at least this long after its start (keyframes are requested there); audio-only tracks are cut on this grid")
            .minimum(100_000_000)
            .maximum(3_600_000_000_000)
            .default_value(DEFAULT_FRAGMENT)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("chunk-duration")
            .nick("Chunk duration")
            .blurb("Low-latency DASH: write segments as CMAF chunks of about this many ns, each published as it completes (availabilityTimeOffset, chunked transfer); 0 = whole segments")
            .maximum(10_000_000_000)
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecEnum::builder::<SegmentAddressing>("segment-addressing")
            .nick("Segment addressing")
            .blurb("How the SegmentTemplate names media segments: $Number$ or $Time$")
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("single-file")
            .nick("Single file")
            .blurb("VOD: one file per track ({id}.mp4: init, one sidx, every fragment), listed with SegmentBase indexRange; not with segment-addressing, chunk-duration, playlist-length, max-files or http-port")
            .default_value(false)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("playlist-length")
            .nick("Playlist length")
            .blurb("Segments listed per track in the live MPD, a sliding window (timeShiftBufferDepth) (0 = all)")
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("max-files")
            .nick("Max files")
            .blurb("Segment files kept on disk per track, the oldest deleted first (0 = all)")
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecInt::builder("http-port")
            .nick("HTTP port")
            .blurb("Serve the presentation over HTTP on this port, with /time for UTCTiming (-1 = no server, 0 = any free port); sinks of one process on the same address and port share one server")
            .minimum(-1)
            .maximum(65535)
            .default_value(-1)
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("http-address")
            .nick("HTTP address")
            .blurb("IP address the HTTP server listens on")
            .default_value(Some("127.0.0.1"))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("http-path")
            .nick("HTTP path")
            .blurb("URL path prefix of this presentation on the server (one segment; default: the element's name; \"\" = the root)")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("http-url")
            .nick("HTTP URL")
            .blurb("URL of the MPD once the server listens (from PAUSED on)")
            .read_only()
            .build(),
        glib::ParamSpecUInt::builder("http-max-connections")
            .nick("HTTP max connections")
            .blurb("Connections the server serves at once; more are closed at once")
            .minimum(1)
            .default_value(1024)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("http-header-timeout")
            .nick("HTTP header timeout")
            .blurb("Nanoseconds a client has to send a request's header before it is disconnected (idle and slow clients)")
            .minimum(1_000_000)
            .default_value(crate::hls::DEFAULT_HEADER_TIMEOUT)
            .mutable_ready()
            .build(),
    ];
    // Encryption: the muxers' own properties, passed on to each (ContentProtection).
    specs.extend(crate::fragmp4mux::encryption_param_specs());
    specs
}

/// The names of the encryption properties passed on to the muxers.
pub const ENCRYPTION: [&str; 7] = [
    "encryption",
    "key-id",
    "key",
    "iv",
    "crypt-byte-block",
    "skip-byte-block",
    "pssh",
];
