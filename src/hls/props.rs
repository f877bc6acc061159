//! The properties of `fragmp4hlssink`, as gst-inspect shows them.

use gst::glib;
use gst::prelude::*;

/// `http-header-timeout` by default (ns).
pub const DEFAULT_HEADER_TIMEOUT: u64 = 10_000_000_000;

/// Every property with its range, default and description.
pub fn param_specs() -> Vec<glib::ParamSpec> {
    let mut specs = vec![
        glib::ParamSpecString::builder("location")
            .nick("Segment location")
            .blurb("Path of the media segments, with %d or %05d for the index")
            .default_value(Some("segment%05d.m4s"))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("init-location")
            .nick("Init segment location")
            .blurb("Path of the init segments (EXT-X-MAP), with %d for the index")
            .default_value(Some("init%d.mp4"))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("playlist-location")
            .nick("Playlist location")
            .blurb("Path of the media playlist")
            .default_value(Some("playlist.m3u8"))
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("multivariant-location")
            .nick("Multivariant playlist location")
            .blurb("Path of a multivariant playlist naming the codecs (RFC 6381), written at EOS; none if unset")
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("target-duration")
            .nick("Target duration")
            .blurb("Segment duration in seconds; keyframes are requested upstream at segment boundaries")
            .minimum(1)
            .maximum(3600)
            .default_value(6)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("playlist-length")
            .nick("Playlist length")
            .blurb("Segments listed in the playlist, a sliding window for live (0 = all)")
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt::builder("max-files")
            .nick("Max files")
            .blurb("Segment files kept on disk, the oldest deleted first (0 = all)")
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecUInt64::builder("part-duration")
            .nick("Part duration")
            .blurb("Low-Latency HLS: write each segment as parts of about this many nanoseconds, published as each completes; parts are whole frames, PART-TARGET the length of a full one (0 = no parts)")
            .maximum(10_000_000_000)
            .default_value(0)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("part-byteranges")
            .nick("Parts as byte ranges")
            .blurb("Parts are byte ranges of their segment (one object per segment), not objects of their own")
            .default_value(false)
            .mutable_ready()
            .build(),
        glib::ParamSpecInt::builder("http-port")
            .nick("HTTP port")
            .blurb("Serve the presentation over HTTP on this port (-1 = no server, 0 = any free port); sinks of one process on the same address and port share one server")
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
            .blurb("URL path prefix of this rendition on the server (one segment; default: the element's name; \"\" = the root)")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("http-url")
            .nick("HTTP URL")
            .blurb("URL of the media playlist once the server listens (from PAUSED on)")
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
            .default_value(DEFAULT_HEADER_TIMEOUT)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("single-file")
            .nick("Single file")
            .blurb("Write the init and every segment into one file (location, without an index) and list them as byte ranges (EXT-X-BYTERANGE, EXT-X-MAP BYTERANGE); not with part-duration or http-port")
            .default_value(false)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoolean::builder("cue-tags")
            .nick("Cue tags")
            .blurb("SCTE-35 splices on meta pads also as EXT-X-CUE-OUT:DURATION=... before the segment where a break starts and EXT-X-CUE-IN before the one where it ends (VOD, besides EXT-X-DATERANGE)")
            .default_value(false)
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("key-uri")
            .nick("Key URI")
            .blurb("URI of EXT-X-KEY: where players get the key (a key server or skd:// URI)")
            .mutable_ready()
            .build(),
        glib::ParamSpecString::builder("key-format")
            .nick("Key format")
            .blurb("KEYFORMAT of EXT-X-KEY (e.g. com.apple.streamingkeydelivery, urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed); unset: none written")
            .mutable_ready()
            .build(),
    ];
    // Encryption: the muxer's own properties, passed on to it.
    specs.extend(crate::fragmp4mux::encryption_param_specs());
    specs
}
