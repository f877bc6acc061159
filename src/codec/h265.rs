//! H.265: `hvc1`/`hev1` sample entries with `hvcC` from `codec_data`.

use super::h264::skip_parameter_sets;
use super::{CodecError, TrackFormat, video};
use crate::boxes::SampleEntry;

/// The profile/tier/level fields of an `HEVCDecoderConfigurationRecord`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcConfig {
    pub profile_space: u8,
    pub tier_high: bool,
    pub profile_idc: u8,
    pub compatibility_flags: u32,
    pub constraint_flags: [u8; 6],
    pub level_idc: u8,
}

/// Validates an `hvcC` record (ISO/IEC 14496-15 8.3.3.1) and returns its profile fields.
pub fn parse_hvcc(data: &[u8]) -> Result<HevcConfig, CodecError> {
    let bad = |why: String| CodecError::invalid("hvcC codec_data", why);
    if data.len() < 23 {
        return Err(bad(format!("{} bytes, at least 23 needed", data.len())));
    }
    if data[0] != 1 {
        return Err(bad(format!(
            "configurationVersion {} (expected 1); byte-stream H.265 needs h265parse before the muxer",
            data[0]
        )));
    }
    let num_arrays = usize::from(data[22]);
    let mut pos = 23;
    for a in 0..num_arrays {
        let count = data
            .get(pos + 1..pos + 3)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or_else(|| bad(format!("truncated in NAL array {a}")))?;
        pos = skip_parameter_sets(data, pos + 3, count, "NAL unit").map_err(bad)?;
    }
    let mut constraint_flags = [0u8; 6];
    constraint_flags.copy_from_slice(&data[6..12]);
    Ok(HevcConfig {
        profile_space: data[1] >> 6,
        tier_high: data[1] & 0x20 != 0,
        profile_idc: data[1] & 0x1f,
        compatibility_flags: u32::from_be_bytes([data[2], data[3], data[4], data[5]]),
        constraint_flags,
        level_idc: data[12],
    })
}

/// RFC 6381 / ISO/IEC 14496-15 Annex E codec string, e.g. `hvc1.1.6.L93.B0`.
pub fn codec_string(fourcc: &[u8; 4], c: &HevcConfig) -> String {
    let space = match c.profile_space {
        1 => "A",
        2 => "B",
        3 => "C",
        _ => "",
    };
    let mut s = format!(
        "{}.{}{}.{:x}.{}{}",
        String::from_utf8_lossy(fourcc),
        space,
        c.profile_idc,
        c.compatibility_flags.reverse_bits(),
        if c.tier_high { 'H' } else { 'L' },
        c.level_idc
    );
    let used = c
        .constraint_flags
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |p| p + 1);
    for b in &c.constraint_flags[..used] {
        s.push_str(&format!(".{b:X}"));
    }
    s
}

/// How caps map to an H.265 sample entry.
const NAL_CODEC: video::NalCodec = video::NalCodec {
    formats: [("hvc1", *b"hvc1"), ("hev1", *b"hev1")],
    config_box: *b"hvcC",
    length_size_byte: 21,
    parser: "h265parse",
};

pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    video::nal_track_format(s, &NAL_CODEC, |fourcc, hvcc| {
        parse_hvcc(hvcc).map(|c| codec_string(fourcc, &c))
    })
}

/// Caps for an `avc1`/`avc3` or `hvc1`/`hev1` entry.
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    video::nal_caps(entry, &NAL_CODEC, "video/x-h265")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Vec<u8> {
        let mut r = vec![
            1, 0x01, 0x60, 0, 0, 0, 0xb0, 0, 0, 0, 0, 0, 93, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,
            0x0f, 1,
        ];
        r.extend_from_slice(&[0x20, 0, 1, 0, 2, 0x40, 0x01]);
        r
    }

    #[test]
    fn main_profile_codec_string() {
        let c = parse_hvcc(&record()).unwrap();
        assert_eq!(codec_string(b"hvc1", &c), "hvc1.1.6.L93.B0");
        assert_eq!(codec_string(b"hev1", &c), "hev1.1.6.L93.B0");
    }

    #[test]
    fn high_tier_main10() {
        let mut r = record();
        r[1] = 0x22; // tier high, profile 2
        r[2] = 0x20; // compat flag 2
        r[12] = 120;
        let c = parse_hvcc(&r).unwrap();
        assert_eq!(codec_string(b"hvc1", &c), "hvc1.2.4.H120.B0");
    }

    #[test]
    fn rejects_truncated_arrays() {
        let r = record();
        assert!(parse_hvcc(&r[..r.len() - 1]).is_err());
        assert!(parse_hvcc(&r[..20]).is_err());
    }
}
