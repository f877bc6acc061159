//! VP9 (`vp09` + `vpcC`, VP Codec ISO Media File Format Binding) and VP8 (`vp08`).

use super::{CodecError, TrackFormat, video};
use crate::boxes::{ChildBox, MediaKind, SampleEntry};

/// The fields of a `vpcC` (version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpConfig {
    pub profile: u8,
    /// Level × 10 (10 = 1.0, 31 = 3.1, ...).
    pub level: u8,
    pub bit_depth: u8,
    /// 0: 4:2:0 vertical, 1: 4:2:0 colocated, 2: 4:2:2, 3: 4:4:4.
    pub chroma_subsampling: u8,
    pub full_range: bool,
    pub primaries: u8,
    pub transfer: u8,
    pub matrix: u8,
}

impl VpConfig {
    /// The `vpcC` body after the full box header.
    pub fn body(&self) -> Vec<u8> {
        vec![
            self.profile,
            self.level,
            (self.bit_depth << 4) | (self.chroma_subsampling << 1) | u8::from(self.full_range),
            self.primaries,
            self.transfer,
            self.matrix,
            0,
            0, // codecIntializationDataSize
        ]
    }
}

/// The lowest VP9 level whose picture size and sample rate fit (VP9 levels table).
pub fn vp9_level(width: u32, height: u32, fps: f64) -> u8 {
    const LEVELS: [(u8, u64, u64); 14] = [
        (10, 36_864, 829_440),
        (11, 73_728, 2_764_800),
        (20, 122_880, 4_608_000),
        (21, 245_760, 9_216_000),
        (30, 552_960, 20_736_000),
        (31, 983_040, 36_864_000),
        (40, 2_228_224, 83_558_400),
        (41, 2_228_224, 160_432_128),
        (50, 8_912_896, 311_951_360),
        (51, 8_912_896, 588_251_136),
        (52, 8_912_896, 1_176_502_272),
        (60, 35_651_584, 1_176_502_272),
        (61, 35_651_584, 2_353_004_544),
        (62, 35_651_584, 4_706_009_088),
    ];
    let size = u64::from(width) * u64::from(height);
    let rate = (size as f64 * fps) as u64;
    LEVELS
        .iter()
        .find(|(_, s, r)| size <= *s && rate <= *r)
        .map_or(62, |(l, _, _)| *l)
}

/// RFC 6381 / VP9 binding codec string, e.g. `vp09.00.10.08`.
pub fn codec_string(fourcc: &[u8; 4], c: &VpConfig) -> String {
    format!(
        "{}.{:02}.{:02}.{:02}",
        String::from_utf8_lossy(fourcc),
        c.profile,
        c.level,
        c.bit_depth
    )
}

fn config_from_caps(
    s: &gst::StructureRef,
    kind: &MediaKind,
    fps: f64,
    vp8: bool,
) -> Result<VpConfig, CodecError> {
    let (width, height, colour) = match kind {
        MediaKind::Video {
            width,
            height,
            colour,
            ..
        } => (u32::from(*width), u32::from(*height), *colour),
        MediaKind::Audio { .. } | MediaKind::Text => return Err(CodecError::MissingField("width")),
    };
    let profile = if vp8 {
        0
    } else {
        match s.get::<&str>("profile") {
            Ok(p) => p.parse::<u8>().map_err(|_| CodecError::InvalidField {
                field: "profile",
                why: format!("'{p}' is not a VP9 profile"),
            })?,
            Err(_) => 0,
        }
    };
    let bit_depth = s
        .get::<u32>("bit-depth-luma")
        .ok()
        .map(|b| b as u8)
        .unwrap_or(if profile >= 2 { 10 } else { 8 });
    let chroma_subsampling = match s.get::<&str>("chroma-format") {
        Ok("4:4:4") => 3,
        Ok("4:2:2") => 2,
        Ok("4:4:0") => 3,
        Ok(_) => 1,
        Err(_) => {
            if profile == 1 || profile == 3 {
                3
            } else {
                1
            }
        }
    };
    // ISO/IEC 23091-2 code points; 2 = unspecified when the caps say nothing.
    let (primaries, transfer, matrix, full_range) = colour.map_or((2, 2, 2, false), |c| {
        (
            c.primaries as u8,
            c.transfer as u8,
            c.matrix as u8,
            c.full_range,
        )
    });
    Ok(VpConfig {
        profile,
        level: vp9_level(width, height, fps),
        bit_depth,
        chroma_subsampling,
        full_range,
        primaries,
        transfer,
        matrix,
    })
}

pub(crate) fn from_caps(s: &gst::StructureRef, vp8: bool) -> Result<TrackFormat, CodecError> {
    let v = video::from_caps(s)?;
    let fps = v.default_duration.map_or(30.0, |d| 1e9 / d as f64);
    let config = config_from_caps(s, &v.kind, fps, vp8)?;
    let fourcc = if vp8 { *b"vp08" } else { *b"vp09" };
    Ok(TrackFormat {
        codec_string: codec_string(&fourcc, &config),
        entry: SampleEntry {
            fourcc,
            kind: v.kind,
            children: vec![ChildBox {
                fourcc: *b"vpcC",
                full: Some((1, 0)),
                body: config.body(),
            }],
        },
        timescale: v.timescale,
        default_duration: v.default_duration,
        is_video: true,
        nal_length_size: None,
        frame_ticks: None,
        priming: 0,
    })
}

/// Caps for a `vp09` entry (profile, chroma and bit depth from `vpcC`) or a `vp08` one.
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    if &entry.fourcc == b"vp08" {
        return Ok(video::entry_caps(gst::Caps::builder("video/x-vp8"), entry).build());
    }
    let vpcc = super::child(entry, b"vpcC")?;
    let [profile, _level, packed, ..] = *vpcc else {
        return Err(CodecError::invalid("vpcC", "shorter than 3 bytes"));
    };
    let bit_depth = u32::from(packed >> 4);
    let chroma = match (packed >> 1) & 7 {
        2 => "4:2:2",
        3 => "4:4:4",
        _ => "4:2:0",
    };
    let builder = gst::Caps::builder("video/x-vp9")
        .field("profile", profile.to_string())
        .field("chroma-format", chroma)
        .field("bit-depth-luma", bit_depth)
        .field("bit-depth-chroma", bit_depth)
        .field("alignment", "super-frame");
    Ok(video::entry_caps(builder, entry).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_codec_string() {
        assert_eq!(vp9_level(320, 240, 30.0), 20);
        assert_eq!(vp9_level(1920, 1080, 30.0), 40);
        assert_eq!(vp9_level(3840, 2160, 60.0), 51);
        let c = VpConfig {
            profile: 0,
            level: 31,
            bit_depth: 8,
            chroma_subsampling: 1,
            full_range: false,
            primaries: 1,
            transfer: 1,
            matrix: 1,
        };
        assert_eq!(codec_string(b"vp09", &c), "vp09.00.31.08");
        assert_eq!(c.body(), vec![0, 31, 0x82, 1, 1, 1, 0, 0]);
    }
}
