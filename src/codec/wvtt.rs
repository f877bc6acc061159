//! WebVTT (ISO/IEC 14496-30): `application/x-subtitle-vtt` or `text/x-raw, format=utf8`
//! caps -> a `wvtt` track; its samples are built from the cues (crate::subtitles).

use super::{CodecError, TrackFormat};
use crate::boxes::wvtt::DEFAULT_CONFIG;
use crate::boxes::{ChildBox, MediaKind, SampleEntry};

/// Media timescale of WebVTT tracks: WebVTT times are milliseconds.
pub const TIMESCALE: u32 = 1000;

/// True when samples on these caps are plain text to be turned into cue text.
pub fn is_plain_text(s: &gst::StructureRef) -> bool {
    s.name() == "text/x-raw"
}

/// The caps of a `wvtt` track's cues, as `fragmp4demux` gives them: one buffer per cue
/// text.
pub fn to_caps() -> gst::Caps {
    gst::Caps::new_empty_simple("application/x-subtitle-vtt")
}

pub fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    if is_plain_text(s) && s.get::<&str>("format").is_ok_and(|f| f != "utf8") {
        return Err(CodecError::InvalidField {
            field: "format",
            why: "only utf8 text becomes WebVTT cues (pango-markup is not WebVTT)".into(),
        });
    }
    Ok(TrackFormat {
        entry: SampleEntry {
            fourcc: *b"wvtt",
            kind: MediaKind::Text,
            children: vec![ChildBox {
                fourcc: *b"vttC",
                full: None,
                body: DEFAULT_CONFIG.as_bytes().to_vec(),
            }],
        },
        timescale: TIMESCALE,
        codec_string: "wvtt".into(),
        default_duration: None,
        is_video: false,
        nal_length_size: None,
        frame_ticks: None,
        priming: 0,
    })
}
