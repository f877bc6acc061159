//! H.264: `avc1`/`avc3` sample entries with `avcC` from `codec_data`.

use super::{CodecError, TrackFormat, video};
use crate::boxes::SampleEntry;

/// The fields of an `AVCDecoderConfigurationRecord` that the codec string needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcConfig {
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
}

/// Validates an `avcC` record (ISO/IEC 14496-15 5.3.3.1) and returns its profile fields.
pub fn parse_avcc(data: &[u8]) -> Result<AvcConfig, CodecError> {
    let bad = |why: &str| CodecError::invalid("avcC codec_data", why);
    if data.len() < 7 {
        return Err(bad(&format!("{} bytes, at least 7 needed", data.len())));
    }
    if data[0] != 1 {
        return Err(bad(&format!(
            "configurationVersion {} (expected 1); byte-stream H.264 needs h264parse before the muxer",
            data[0]
        )));
    }
    let mut pos = 5;
    let num_sps = usize::from(data[pos] & 0x1f);
    pos += 1;
    pos = skip_parameter_sets(data, pos, num_sps, "SPS").map_err(|w| bad(&w))?;
    let num_pps = usize::from(
        *data
            .get(pos)
            .ok_or_else(|| bad("truncated before the PPS count"))?,
    );
    pos += 1;
    skip_parameter_sets(data, pos, num_pps, "PPS").map_err(|w| bad(&w))?;
    Ok(AvcConfig {
        profile: data[1],
        compatibility: data[2],
        level: data[3],
    })
}

/// Skips `count` length-prefixed (16-bit) NAL units, returning the position after them.
pub(crate) fn skip_parameter_sets(
    data: &[u8],
    mut pos: usize,
    count: usize,
    what: &str,
) -> Result<usize, String> {
    for i in 0..count {
        let len = data
            .get(pos..pos + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| format!("truncated in the length of {what} {i}"))?;
        pos += 2;
        if data.len() < pos + len {
            return Err(format!("{what} {i} of {len} bytes runs past the end"));
        }
        pos += len;
    }
    Ok(pos)
}

/// RFC 6381 codec string, e.g. `avc1.64001f`.
pub fn codec_string(fourcc: &[u8; 4], c: AvcConfig) -> String {
    format!(
        "{}.{:02x}{:02x}{:02x}",
        String::from_utf8_lossy(fourcc),
        c.profile,
        c.compatibility,
        c.level
    )
}

/// How caps map to an H.264 sample entry.
const NAL_CODEC: video::NalCodec = video::NalCodec {
    formats: [("avc", *b"avc1"), ("avc3", *b"avc3")],
    config_box: *b"avcC",
    length_size_byte: 4,
    parser: "h264parse",
};

pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    video::nal_track_format(s, &NAL_CODEC, |fourcc, avcc| {
        parse_avcc(avcc).map(|c| codec_string(fourcc, c))
    })
}

/// Caps for an `avc1`/`avc3` or `hvc1`/`hev1` entry.
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    video::nal_caps(entry, &NAL_CODEC, "video/x-h264")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVCC: [u8; 19] = [
        1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0x00, 0x1f, 1, 0, 3, 0x68, 0xee, 0x3c,
        0x80,
    ];

    #[test]
    fn parses_profile_and_builds_codec_string() {
        let c = parse_avcc(&AVCC).unwrap();
        assert_eq!(codec_string(b"avc1", c), "avc1.64001f");
        assert_eq!(codec_string(b"avc3", c), "avc3.64001f");
    }

    #[test]
    fn rejects_truncated_and_byte_stream_data() {
        assert!(parse_avcc(&AVCC[..10]).is_err());
        assert!(parse_avcc(&AVCC[..16]).is_err());
        assert!(parse_avcc(&[0, 0, 0, 1, 0x67, 0x64, 0, 0x1f]).is_err());
        assert!(parse_avcc(&[]).is_err());
    }
}
