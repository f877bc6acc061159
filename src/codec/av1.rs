//! AV1 (`av01` + `av1C`, AV1 Codec ISO Media File Format Binding). The configuration comes
//! from the sequence header OBU of the first temporal unit; temporal delimiters are left
//! out of the samples.

use super::{CodecError, TrackFormat, video};
use crate::boxes::{ChildBox, SampleEntry};

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;

/// The fields of an `av1C` and the sequence header OBU it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    pub profile: u8,
    pub level: u8,
    pub tier: u8,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    pub subsampling_x: bool,
    pub subsampling_y: bool,
    pub chroma_sample_position: u8,
    /// The whole sequence header OBU (with its size field).
    pub sequence_header: Vec<u8>,
}

struct Bits<'a> {
    d: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn f(&mut self, n: usize) -> Result<u32, CodecError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self
                .d
                .get(self.pos / 8)
                .ok_or_else(|| CodecError::invalid("AV1 sequence header", "truncated"))?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    fn flag(&mut self) -> Result<bool, CodecError> {
        Ok(self.f(1)? == 1)
    }

    fn uvlc(&mut self) -> Result<u32, CodecError> {
        let mut zeros = 0;
        while !self.flag()? {
            zeros += 1;
            if zeros >= 32 {
                return Err(CodecError::invalid("AV1 sequence header", "bad uvlc"));
            }
        }
        Ok(self.f(zeros)? + (1u32 << zeros) - 1)
    }
}

fn leb128(d: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, b) in d.iter().take(8).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// One OBU of a temporal unit: its type, and where it and its payload lie.
struct Obu {
    kind: u8,
    whole: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

/// The OBUs of a temporal unit.
fn obus(tu: &[u8]) -> Result<Vec<Obu>, CodecError> {
    let bad = |why: &str| CodecError::invalid("AV1 temporal unit", why);
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < tu.len() {
        let header = tu[pos];
        let kind = (header >> 3) & 0xf;
        let mut at = pos + 1 + usize::from(header & 0x4 != 0);
        let payload_len = if header & 0x2 != 0 {
            let (len, n) =
                leb128(tu.get(at..).unwrap_or(&[])).ok_or_else(|| bad("bad OBU size"))?;
            at += n;
            len as usize
        } else {
            tu.len().saturating_sub(at)
        };
        let end = at
            .checked_add(payload_len)
            .filter(|e| *e <= tu.len())
            .ok_or_else(|| bad("OBU overruns"))?;
        out.push(Obu {
            kind,
            whole: pos..end,
            payload: at..end,
        });
        pos = end;
    }
    Ok(out)
}

/// Bytes of the temporal delimiter OBU at the start of `tu` (0 if there is none).
pub fn temporal_delimiter_len(tu: &[u8]) -> usize {
    match obus(tu) {
        Ok(o) => o
            .first()
            .filter(|o| o.kind == OBU_TEMPORAL_DELIMITER)
            .map_or(0, |o| o.whole.end),
        Err(_) => 0,
    }
}

/// Reads the configuration from the sequence header OBU in a temporal unit.
pub fn config_from_temporal_unit(tu: &[u8]) -> Result<Av1Config, CodecError> {
    let Obu { whole, payload, .. } = obus(tu)?
        .into_iter()
        .find(|o| o.kind == OBU_SEQUENCE_HEADER)
        .ok_or_else(|| {
            CodecError::invalid(
                "AV1 temporal unit",
                "no sequence header OBU in the first keyframe",
            )
        })?;
    let mut b = Bits {
        d: &tu[payload],
        pos: 0,
    };
    let profile = b.f(3)? as u8;
    let _still_picture = b.flag()?;
    let reduced = b.flag()?;
    let (level, tier);
    let mut decoder_model_info = false;
    let mut buffer_delay_len = 0;
    if reduced {
        level = b.f(5)? as u8;
        tier = 0;
    } else {
        if b.flag()? {
            // timing_info
            b.f(32)?;
            b.f(32)?;
            if b.flag()? {
                b.uvlc()?;
            }
            decoder_model_info = b.flag()?;
            if decoder_model_info {
                buffer_delay_len = b.f(5)? as usize + 1;
                b.f(32)?;
                b.f(5)?;
                b.f(5)?;
            }
        }
        let initial_display_delay = b.flag()?;
        let count = b.f(5)? + 1;
        let (mut level0, mut tier0) = (0, 0);
        for i in 0..count {
            b.f(12)?;
            let lvl = b.f(5)? as u8;
            let t = if lvl > 7 { b.f(1)? as u8 } else { 0 };
            if i == 0 {
                (level0, tier0) = (lvl, t);
            }
            if decoder_model_info && b.flag()? {
                b.f(buffer_delay_len)?;
                b.f(buffer_delay_len)?;
                b.f(1)?;
            }
            if initial_display_delay && b.flag()? {
                b.f(4)?;
            }
        }
        level = level0;
        tier = tier0;
    }
    let wbits = b.f(4)? as usize + 1;
    let hbits = b.f(4)? as usize + 1;
    b.f(wbits)?;
    b.f(hbits)?;
    if !reduced && b.flag()? {
        b.f(4)?;
        b.f(3)?;
    }
    b.f(3)?; // 128x128 superblock, filter intra, intra edge filter
    if !reduced {
        b.f(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = b.flag()?;
        if order_hint {
            b.f(2)?; // jnt comp, ref frame mvs
        }
        let force_screen_content = if b.flag()? { 2 } else { b.f(1)? };
        if force_screen_content > 0 && !b.flag()? {
            b.f(1)?;
        }
        if order_hint {
            b.f(3)?;
        }
    }
    b.f(3)?; // superres, cdef, restoration
    // color_config
    let high_bitdepth = b.flag()?;
    let twelve_bit = profile == 2 && high_bitdepth && b.flag()?;
    let monochrome = profile != 1 && b.flag()?;
    let (mut cp, mut tc, mut mc) = (2, 2, 2);
    if b.flag()? {
        cp = b.f(8)?;
        tc = b.f(8)?;
        mc = b.f(8)?;
    }
    let (sx, sy, csp);
    if monochrome {
        (sx, sy, csp) = (true, true, 0);
    } else if cp == 1 && tc == 13 && mc == 0 {
        (sx, sy, csp) = (false, false, 0);
    } else {
        b.f(1)?; // color_range
        let (x, y) = match profile {
            0 => (true, true),
            1 => (false, false),
            _ if twelve_bit => {
                let x = b.flag()?;
                (x, x && b.flag()?)
            }
            _ => (true, false),
        };
        csp = if x && y { b.f(2)? as u8 } else { 0 };
        (sx, sy) = (x, y);
    }
    Ok(Av1Config {
        profile,
        level,
        tier,
        high_bitdepth,
        twelve_bit,
        monochrome,
        subsampling_x: sx,
        subsampling_y: sy,
        chroma_sample_position: csp,
        sequence_header: tu[whole].to_vec(),
    })
}

impl Av1Config {
    /// The `av1C` body: marker/version, the fields, and the sequence header OBU.
    pub fn av1c(&self) -> Vec<u8> {
        let mut b = vec![
            0x81,
            (self.profile << 5) | (self.level & 0x1f),
            (self.tier << 7)
                | (u8::from(self.high_bitdepth) << 6)
                | (u8::from(self.twelve_bit) << 5)
                | (u8::from(self.monochrome) << 4)
                | (u8::from(self.subsampling_x) << 3)
                | (u8::from(self.subsampling_y) << 2)
                | self.chroma_sample_position,
            0,
        ];
        b.extend_from_slice(&self.sequence_header);
        b
    }

    /// `av01.P.LLT.DD`, e.g. `av01.0.04M.08`.
    pub fn codec_string(&self) -> String {
        let depth = if self.twelve_bit {
            12
        } else if self.high_bitdepth {
            10
        } else {
            8
        };
        format!(
            "av01.{}.{:02}{}.{:02}",
            self.profile,
            self.level,
            if self.tier == 1 { 'H' } else { 'M' },
            depth
        )
    }

    /// The `av1C` box of the sample entry.
    pub fn child(&self) -> ChildBox {
        ChildBox {
            fourcc: *b"av1C",
            full: None,
            body: self.av1c(),
        }
    }
}

/// Caps for an `av01` entry: temporal units of OBUs, `av1C` as `codec_data`.
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    let av1c = super::child(entry, b"av1C")?;
    let builder = gst::Caps::builder("video/x-av1")
        .field("stream-format", "obu-stream")
        .field("alignment", "tu")
        .field("codec_data", gst::Buffer::from_slice(av1c.to_vec()));
    Ok(video::entry_caps(builder, entry).build())
}

/// An `av01` track; its `av1C` is filled from the first keyframe when the caps carry no
/// `codec_data` (what `av1enc ! av1parse` produce).
pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    match s.get::<&str>("stream-format") {
        Ok("obu-stream") | Err(_) => {}
        Ok(other) => {
            return Err(CodecError::InvalidField {
                field: "stream-format",
                why: format!("'{other}' is not obu-stream; use av1parse to convert"),
            });
        }
    }
    let v = video::from_caps(s)?;
    let (children, codec_string) = match s.get::<gst::Buffer>("codec_data") {
        Ok(cd) => {
            let map = cd
                .map_readable()
                .map_err(|_| CodecError::invalid("av1C", "unreadable"))?;
            if map.len() < 4 || map[0] != 0x81 {
                return Err(CodecError::invalid(
                    "av1C codec_data",
                    "no marker/version 0x81",
                ));
            }
            let c = config_from_temporal_unit(&map[4..]).ok();
            let string = c
                .as_ref()
                .map_or_else(|| "av01".to_string(), Av1Config::codec_string);
            (
                vec![ChildBox {
                    fourcc: *b"av1C",
                    full: None,
                    body: map.to_vec(),
                }],
                string,
            )
        }
        Err(_) => (Vec::new(), "av01".to_string()),
    };
    Ok(TrackFormat {
        entry: SampleEntry {
            fourcc: *b"av01",
            kind: v.kind,
            children,
        },
        timescale: v.timescale,
        codec_string,
        default_duration: v.default_duration,
        is_video: true,
        nal_length_size: None,
        frame_ticks: None,
        priming: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporal unit from av1enc (64x64, main profile): TD, sequence header, frame.
    const TU: [u8; 24] = [
        0x12, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x02, 0xaf, 0xff, 0xf0, 0x36, 0xbe, 0x40, 0x10,
        0x32, 0x03, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn sequence_header_to_av1c() {
        let c = config_from_temporal_unit(&TU).unwrap();
        assert_eq!(
            (c.profile, c.high_bitdepth, c.monochrome),
            (0, false, false)
        );
        assert!(c.subsampling_x && c.subsampling_y);
        assert_eq!(c.sequence_header, TU[2..15].to_vec());
        let b = c.av1c();
        assert_eq!(b[0], 0x81);
        assert_eq!(&b[4..], &TU[2..15]);
        assert!(c.codec_string().starts_with("av01.0.") && c.codec_string().ends_with("M.08"));
        assert_eq!(temporal_delimiter_len(&TU), 2);
        assert!(config_from_temporal_unit(&TU[..2]).is_err());
        assert!(config_from_temporal_unit(&[0x0a, 0x20]).is_err());
    }
}
