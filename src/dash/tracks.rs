//! What the sink learns about its tracks from GStreamer: a Representation's description
//! from the input caps, and `ContentProtection` from a muxer's encryption settings.

use gst::prelude::*;

use super::mpd::Media;
use super::presentation::TrackInfo;
use crate::fragmp4mux::FragMp4Mux;

/// The track description a Representation needs, from the caps of its input; `lang`
/// (BCP 47) for subtitles.
pub(super) fn track_info(
    id: &str,
    caps: &gst::CapsRef,
    lang: Option<String>,
) -> Result<TrackInfo, String> {
    let format = crate::codec::track_format_from_caps(caps, None).map_err(|e| e.to_string())?;
    let s = caps.structure(0).ok_or("empty caps")?;
    let int = |name: &str| s.get::<i32>(name).ok().filter(|v| *v > 0).map(|v| v as u32);
    let media = if format.codec_string == "wvtt" {
        Media::Text { lang }
    } else if format.is_video {
        Media::Video {
            width: int("width"),
            height: int("height"),
            frame_rate: s
                .get::<gst::Fraction>("framerate")
                .ok()
                .filter(|f| f.numer() > 0 && f.denom() > 0)
                .map(|f| (f.numer() as u32, f.denom() as u32)),
        }
    } else {
        Media::Audio {
            rate: int("rate"),
            channels: int("channels"),
        }
    };
    Ok(TrackInfo {
        id: id.to_string(),
        codecs: format.codec_string,
        media,
        timescale: format.timescale,
        event_schemes: Vec::new(),
    })
}

/// `ContentProtection` from a muxer's encryption settings, when it encrypts.
pub(super) fn protection(mux: &FragMp4Mux) -> Option<super::mpd::Protection> {
    use base64::Engine;
    let scheme = match mux.property::<crate::fragmp4mux::Encryption>("encryption") {
        crate::fragmp4mux::Encryption::None => return None,
        crate::fragmp4mux::Encryption::Cenc => "cenc",
        crate::fragmp4mux::Encryption::Cbcs => "cbcs",
    };
    let hex = mux.property::<Option<String>>("key-id")?;
    let mut kid = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, b) in kid.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let mut systems = Vec::new();
    for b64 in mux
        .property::<Option<String>>("pssh")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        // size, 'pssh', version and flags, then the 16-byte system ID.
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if let Some(id) = bytes.get(12..28).and_then(|s| <[u8; 16]>::try_from(s).ok()) {
            systems.push((id, b64.to_string()));
        }
    }
    Some(super::mpd::Protection {
        scheme: scheme.into(),
        default_kid: kid,
        systems,
    })
}
