//! Facts shared by every video codec: dimensions, aspect, colour, timescale.

use super::{CodecError, TrackFormat, codec_data};
use crate::boxes::{ChildBox, Colour, FourCc, MediaKind, SampleEntry};

/// A video codec whose samples are length-prefixed NAL units and whose configuration
/// record comes verbatim from `codec_data` (H.264, H.265).
pub(crate) struct NalCodec {
    /// `stream-format` values and their sample entries, the preferred one first.
    pub formats: [(&'static str, FourCc); 2],
    /// The configuration box (`avcC`, `hvcC`).
    pub config_box: FourCc,
    /// Byte of the record whose low two bits are the NAL length size minus one.
    pub length_size_byte: usize,
    /// The parser that converts other stream formats.
    pub parser: &'static str,
}

/// The track format of a [`NalCodec`] from its caps; `codec_string` validates the
/// configuration record and derives the RFC 6381 string for the chosen entry.
pub(crate) fn nal_track_format(
    s: &gst::StructureRef,
    codec: &NalCodec,
    codec_string: impl Fn(&FourCc, &[u8]) -> Result<String, CodecError>,
) -> Result<TrackFormat, CodecError> {
    let format = s
        .get::<&str>("stream-format")
        .map_err(|_| CodecError::MissingField("stream-format"))?;
    let Some(&(format, fourcc)) = codec.formats.iter().find(|(f, _)| *f == format) else {
        return Err(CodecError::InvalidField {
            field: "stream-format",
            why: format!(
                "'{format}' is not {} or {}; use {} to convert",
                codec.formats[0].0, codec.formats[1].0, codec.parser
            ),
        });
    };
    let record = codec_data(s, format)?;
    let codec_string = codec_string(&fourcc, &record)?;
    let length_size = record
        .get(codec.length_size_byte)
        .map(|b| (b & 3) + 1)
        .ok_or_else(|| CodecError::invalid("codec_data", "too short for its NAL length size"))?;
    let v = from_caps(s)?;
    Ok(TrackFormat {
        entry: SampleEntry {
            fourcc,
            kind: v.kind,
            children: vec![ChildBox {
                fourcc: codec.config_box,
                full: None,
                body: record,
            }],
        },
        timescale: v.timescale,
        codec_string,
        default_duration: v.default_duration,
        is_video: true,
        nal_length_size: Some(length_size),
        frame_ticks: None,
        priming: 0,
    })
}

/// Caps of a [`NalCodec`] entry: the stream format named by the entry, the
/// configuration record as `codec_data`, the visual fields.
pub(crate) fn nal_caps(
    entry: &SampleEntry,
    codec: &NalCodec,
    media_type: &str,
) -> Result<gst::Caps, CodecError> {
    let (format, _) = codec
        .formats
        .iter()
        .find(|(_, f)| *f == entry.fourcc)
        .ok_or_else(|| CodecError::Unsupported(String::from_utf8_lossy(&entry.fourcc).into()))?;
    let record = super::child(entry, &codec.config_box)?;
    let builder = gst::Caps::builder(media_type)
        .field("stream-format", *format)
        .field("alignment", "au")
        .field("codec_data", gst::Buffer::from_slice(record.to_vec()));
    Ok(entry_caps(builder, entry).build())
}

/// Adds the visual fields of a sample entry: size, aspect, colour when the entry has them.
pub(crate) fn entry_caps(
    mut builder: gst::caps::Builder<gst::caps::NoFeature>,
    entry: &SampleEntry,
) -> gst::caps::Builder<gst::caps::NoFeature> {
    if let MediaKind::Video {
        width,
        height,
        pixel_aspect,
        colour,
    } = entry.kind
    {
        builder = builder
            .field("width", i32::from(width))
            .field("height", i32::from(height));
        if let Some((n, d)) = pixel_aspect
            .filter(|(n, d)| *n > 0 && *d > 0 && *n <= i32::MAX as u32 && *d <= i32::MAX as u32)
        {
            builder = builder.field("pixel-aspect-ratio", gst::Fraction::new(n as i32, d as i32));
        }
        if let Some(c) = colour.and_then(colorimetry_from_colour) {
            builder = builder.field("colorimetry", c);
        }
    }
    builder
}

/// The colorimetry string of an `nclx` description, when GStreamer can name it.
fn colorimetry_from_colour(c: Colour) -> Option<String> {
    let range = if c.full_range {
        gst_video::VideoColorRange::Range0_255
    } else {
        gst_video::VideoColorRange::Range16_235
    };
    let matrix = gst_video::VideoColorMatrix::from_iso(u32::from(c.matrix));
    let transfer = gst_video::VideoTransferFunction::from_iso(u32::from(c.transfer));
    let primaries = gst_video::VideoColorPrimaries::from_iso(u32::from(c.primaries));
    if matrix == gst_video::VideoColorMatrix::Unknown
        || transfer == gst_video::VideoTransferFunction::Unknown
        || primaries == gst_video::VideoColorPrimaries::Unknown
    {
        return None;
    }
    let colorimetry = gst_video::VideoColorimetry::new(range, matrix, transfer, primaries);
    Some(colorimetry.to_string())
}

/// The visual part of a sample entry and the timing derived from the caps.
pub(crate) struct VideoCaps {
    pub kind: MediaKind,
    pub timescale: u32,
    pub default_duration: Option<u64>,
}

pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<VideoCaps, CodecError> {
    let width = dimension(s, "width")?;
    let height = dimension(s, "height")?;
    let pixel_aspect = s
        .get::<gst::Fraction>("pixel-aspect-ratio")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| (f.numer() as u32, f.denom() as u32));
    let colour = match s.get::<&str>("colorimetry") {
        Ok(c) => colour_from_colorimetry(c),
        Err(_) => None,
    };
    let framerate = s
        .get::<gst::Fraction>("framerate")
        .ok()
        .filter(|f| f.numer() > 0 && f.denom() > 0)
        .map(|f| (f.numer() as u32, f.denom() as u32));
    Ok(VideoCaps {
        kind: MediaKind::Video {
            width,
            height,
            pixel_aspect,
            colour,
        },
        timescale: framerate.map_or(90_000, |(n, d)| video_timescale(n, d)),
        default_duration: framerate
            .map(|(n, d)| (u64::from(d) * 1_000_000_000).div_ceil(u64::from(n))),
    })
}

fn dimension(s: &gst::StructureRef, field: &'static str) -> Result<u16, CodecError> {
    let v = s
        .get::<i32>(field)
        .map_err(|_| CodecError::MissingField(field))?;
    u16::try_from(v)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| CodecError::InvalidField {
            field,
            why: format!("{v} is outside 1..=65535"),
        })
}

/// `colr` from a GStreamer colorimetry string; `None` when it cannot be parsed, so
/// colour is never invented.
fn colour_from_colorimetry(c: &str) -> Option<Colour> {
    let c: gst_video::VideoColorimetry = c.parse().ok()?;
    Some(Colour {
        primaries: c.primaries().to_iso() as u16,
        transfer: c.transfer().to_iso() as u16,
        matrix: c.matrix().to_iso() as u16,
        full_range: c.range() == gst_video::VideoColorRange::Range0_255,
    })
}

/// The media timescale for a frame rate `n/d` (DESIGN.md A4): `n` for NTSC-style
/// `n/1001` rates, 90000 when a frame is a whole number of 90 kHz ticks, otherwise
/// the multiple of the numerator closest above 90000 divided by `gcd(n, d)`.
pub fn video_timescale(n: u32, d: u32) -> u32 {
    if d == 1001 {
        return n;
    }
    if (90_000u64 * u64::from(d)).is_multiple_of(u64::from(n)) {
        return 90_000;
    }
    let step = n / gcd(n, d);
    let multiple = 90_000u32.div_ceil(step).max(1);
    step.saturating_mul(multiple)
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timescales_follow_design_a4() {
        assert_eq!(video_timescale(30, 1), 90_000);
        assert_eq!(video_timescale(25, 1), 90_000);
        assert_eq!(video_timescale(30000, 1001), 30000);
        assert_eq!(video_timescale(24000, 1001), 24000);
        assert_eq!(video_timescale(60000, 1001), 60000);
        // 1/7 s is not a whole number of 90 kHz ticks.
        let ts = video_timescale(7, 1);
        assert_eq!(ts % 7, 0);
        assert!(ts >= 90_000);
        // 90000 * 1 / 11 is not whole: a multiple of 11.
        assert_eq!(video_timescale(11, 1) % 11, 0);
    }

    #[test]
    fn colour_is_parsed_not_invented() {
        gst::init().unwrap();
        let c = colour_from_colorimetry("bt709").unwrap();
        assert_eq!(
            (c.primaries, c.transfer, c.matrix, c.full_range),
            (1, 1, 1, false)
        );
        assert!(colour_from_colorimetry("nonsense").is_none());
    }
}
