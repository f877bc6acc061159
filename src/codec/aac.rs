//! AAC: `mp4a` sample entries with an `esds` carrying the AudioSpecificConfig verbatim.

use super::{CodecError, TrackFormat, codec_data};
use crate::boxes::{ChildBox, MediaKind, SampleEntry};

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) the muxer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    pub object_type: u8,
    /// Core sampling rate.
    pub sample_rate: u32,
    /// Output rate when SBR is signalled explicitly (HE-AAC), else the core rate.
    pub output_rate: u32,
    pub channel_config: u8,
    /// PCM samples per access unit at the output rate.
    pub frame_length: u32,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, CodecError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self
                .data
                .get(self.pos / 8)
                .ok_or_else(|| CodecError::invalid("AudioSpecificConfig", "truncated"))?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    fn object_type(&mut self) -> Result<u8, CodecError> {
        let t = self.read(5)?;
        Ok(if t == 31 { 32 + self.read(6)? } else { t } as u8)
    }

    fn rate(&mut self) -> Result<u32, CodecError> {
        match self.read(4)? as usize {
            15 => self.read(24),
            i if i < SAMPLE_RATES.len() => Ok(SAMPLE_RATES[i]),
            i => Err(CodecError::invalid(
                "AudioSpecificConfig",
                format!("reserved sampling frequency index {i}"),
            )),
        }
    }
}

/// Parses an AudioSpecificConfig.
pub fn parse_asc(data: &[u8]) -> Result<AudioSpecificConfig, CodecError> {
    let mut b = Bits { data, pos: 0 };
    let mut object_type = b.object_type()?;
    if object_type == 0 {
        return Err(CodecError::invalid(
            "AudioSpecificConfig",
            "object type 0 (null)",
        ));
    }
    let sample_rate = b.rate()?;
    if sample_rate == 0 {
        return Err(CodecError::invalid(
            "AudioSpecificConfig",
            "sampling rate 0",
        ));
    }
    let channel_config = b.read(4)? as u8;
    let signalled_type = object_type;
    let mut output_rate = sample_rate;
    let mut sbr = false;
    if object_type == 5 || object_type == 29 {
        sbr = true;
        output_rate = b.rate()?;
        object_type = b.object_type()?;
    }
    // GASpecificConfig frameLengthFlag: 960-sample frames for the GA object types.
    let core_frame = if matches!(object_type, 1..=4 | 6 | 7 | 17 | 19..=23) && b.read(1)? == 1 {
        960
    } else {
        1024
    };
    Ok(AudioSpecificConfig {
        object_type: signalled_type,
        sample_rate,
        output_rate,
        channel_config,
        frame_length: if sbr { core_frame * 2 } else { core_frame },
    })
}

/// RFC 6381 codec string, e.g. `mp4a.40.2`.
pub fn codec_string(asc: &AudioSpecificConfig) -> String {
    format!("mp4a.40.{}", asc.object_type)
}

fn descriptor(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let len = body.len();
    // Expandable size, 7 bits per byte, high bit = more follows.
    let mut groups = vec![(len & 0x7f) as u8];
    let mut rest = len >> 7;
    while rest > 0 {
        groups.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.extend(groups.iter().rev());
    out.extend_from_slice(body);
}

/// The body of an `esds` full box: ES_Descriptor with the DecoderConfigDescriptor
/// (object type 0x40, audio stream) holding `asc` verbatim.
pub fn esds_body(asc: &[u8], max_bitrate: u32, avg_bitrate: u32) -> Vec<u8> {
    let mut dsi = Vec::new();
    descriptor(&mut dsi, 0x05, asc);
    let mut dcd = vec![0x40, 0x15, 0, 0, 0];
    dcd.extend_from_slice(&max_bitrate.to_be_bytes());
    dcd.extend_from_slice(&avg_bitrate.to_be_bytes());
    dcd.extend_from_slice(&dsi);
    let mut es = vec![0, 0, 0]; // ES_ID 0, no flags
    descriptor(&mut es, 0x04, &dcd);
    descriptor(&mut es, 0x06, &[0x02]);
    let mut out = Vec::new();
    descriptor(&mut out, 0x03, &es);
    out
}

/// Reads one descriptor (tag, expandable size) at the start of `d`: `(tag, body, rest)`.
fn read_descriptor(d: &[u8]) -> Result<(u8, &[u8], &[u8]), CodecError> {
    let bad = || CodecError::invalid("esds", "truncated descriptor");
    let (&tag, mut rest) = d.split_first().ok_or_else(bad)?;
    let mut len = 0usize;
    for _ in 0..4 {
        let (&b, r) = rest.split_first().ok_or_else(bad)?;
        rest = r;
        len = (len << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    if len > rest.len() {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The AudioSpecificConfig inside an `esds` body (after the full box header), with the
/// object type indication of its DecoderConfigDescriptor.
pub fn asc_from_esds(esds: &[u8]) -> Result<(u8, &[u8]), CodecError> {
    let (tag, es, _) = read_descriptor(esds)?;
    if tag != 0x03 {
        return Err(CodecError::invalid(
            "esds",
            format!("tag {tag:#x}, not an ES_Descriptor"),
        ));
    }
    let flags = *es
        .get(2)
        .ok_or_else(|| CodecError::invalid("esds", "ES_Descriptor truncated"))?;
    let mut skip = 3;
    if flags & 0x80 != 0 {
        skip += 2;
    }
    if flags & 0x40 != 0 {
        skip += 1 + usize::from(*es.get(skip).unwrap_or(&0));
    }
    if flags & 0x20 != 0 {
        skip += 2;
    }
    let mut rest = es
        .get(skip..)
        .ok_or_else(|| CodecError::invalid("esds", "ES_Descriptor truncated"))?;
    while !rest.is_empty() {
        let (tag, body, r) = read_descriptor(rest)?;
        rest = r;
        if tag != 0x04 {
            continue;
        }
        let object_type = *body
            .first()
            .ok_or_else(|| CodecError::invalid("esds", "empty DecoderConfigDescriptor"))?;
        let mut sub = body.get(13..).unwrap_or(&[]);
        while !sub.is_empty() {
            let (tag, dsi, r) = read_descriptor(sub)?;
            sub = r;
            if tag == 0x05 {
                return Ok((object_type, dsi));
            }
        }
        return Err(CodecError::invalid(
            "esds",
            "no DecoderSpecificInfo (AudioSpecificConfig)",
        ));
    }
    Err(CodecError::invalid("esds", "no DecoderConfigDescriptor"))
}

/// Caps for an `mp4a` entry: the AudioSpecificConfig verbatim as `codec_data`; rate and
/// channels from it (the entry's fields are often left at 2 channels).
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    let esds = super::child(entry, b"esds")?;
    let (object_type, asc_bytes) = asc_from_esds(esds)?;
    if !matches!(object_type, 0x40 | 0x66..=0x68) {
        return Err(CodecError::Unsupported(format!(
            "mp4a with object type {object_type:#04x} (only AAC is mapped)"
        )));
    }
    let asc = parse_asc(asc_bytes)?;
    let channels = match (asc.channel_config, &entry.kind) {
        (1..=6, _) => i32::from(asc.channel_config),
        (7, _) => 8,
        (_, MediaKind::Audio { channels, .. }) => i32::from(*channels),
        _ => 2,
    };
    Ok(gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("framed", true)
        .field("rate", asc.output_rate as i32)
        .field("channels", channels)
        .field("codec_data", gst::Buffer::from_slice(asc_bytes.to_vec()))
        .build())
}

pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    match s.get::<i32>("mpegversion") {
        Ok(4) | Ok(2) => {}
        _ => return Err(CodecError::Unsupported(s.to_string())),
    }
    match s.get::<&str>("stream-format") {
        Ok("raw") => {}
        Ok(other) => {
            return Err(CodecError::InvalidField {
                field: "stream-format",
                why: format!("'{other}' is not raw; use aacparse to convert"),
            });
        }
        Err(_) => return Err(CodecError::MissingField("stream-format")),
    }
    let data = codec_data(s, "raw")?;
    let asc = parse_asc(&data)?;
    let caps_rate = s
        .get::<i32>("rate")
        .ok()
        .filter(|r| *r > 0)
        .map(|r| r as u32);
    let caps_channels = s.get::<i32>("channels").ok().filter(|c| *c > 0);
    let channels = match asc.channel_config {
        0 => caps_channels.unwrap_or(2) as u16,
        7 => 8,
        c @ 1..=6 => u16::from(c),
        c => caps_channels.unwrap_or(i32::from(c)) as u16,
    };
    let channels = if asc.object_type == 29 { 2 } else { channels };
    let timescale = caps_rate.unwrap_or(asc.output_rate);
    let bitrate = s.get::<u32>("bitrate").unwrap_or(0);
    Ok(TrackFormat {
        entry: SampleEntry {
            fourcc: *b"mp4a",
            kind: MediaKind::Audio {
                channels,
                sample_rate: asc.output_rate,
            },
            children: vec![ChildBox {
                fourcc: *b"esds",
                full: Some((0, 0)),
                body: esds_body(&data, bitrate, bitrate),
            }],
        },
        timescale,
        codec_string: codec_string(&asc),
        default_duration: Some(u64::from(asc.frame_length) * 1_000_000_000 / u64::from(timescale)),
        is_video: false,
        nal_length_size: None,
        frame_ticks: Some(
            (u64::from(asc.frame_length) * u64::from(timescale) / u64::from(asc.output_rate.max(1)))
                as u32,
        ),
        priming: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_lc_48k_stereo() {
        let asc = parse_asc(&[0x11, 0x90]).unwrap();
        assert_eq!(asc.object_type, 2);
        assert_eq!(asc.sample_rate, 48000);
        assert_eq!(asc.channel_config, 2);
        assert_eq!(asc.frame_length, 1024);
        assert_eq!(codec_string(&asc), "mp4a.40.2");
    }

    #[test]
    fn he_aac_explicit_sbr() {
        // AOT 5, 24 kHz core, stereo, extension 48 kHz, then AOT 2.
        let asc = parse_asc(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(asc.object_type, 5);
        assert_eq!(asc.sample_rate, 24000);
        assert_eq!(asc.output_rate, 48000);
        assert_eq!(asc.frame_length, 2048);
    }

    #[test]
    fn invalid_rate_index_and_truncation_are_errors() {
        // index 13 is reserved
        assert!(parse_asc(&[0x16, 0x90]).is_err());
        assert!(parse_asc(&[0x11]).is_err());
        assert!(parse_asc(&[]).is_err());
    }

    #[test]
    fn esds_round_trips_the_config() {
        let esds = esds_body(&[0x12, 0x10, 0x56, 0xe5, 0x00], 128_000, 96_000);
        assert_eq!(
            asc_from_esds(&esds).unwrap(),
            (0x40, &[0x12, 0x10, 0x56, 0xe5, 0x00][..])
        );
        assert!(asc_from_esds(&esds[..esds.len() - 3]).is_err());
        assert!(asc_from_esds(&[]).is_err());
    }

    #[test]
    fn esds_nests_the_config_verbatim() {
        let body = esds_body(&[0x11, 0x90], 128000, 96000);
        assert_eq!(body[0], 0x03);
        assert_eq!(usize::from(body[1]), body.len() - 2);
        let dsi = body.windows(2).position(|w| w == [0x05, 0x02]).unwrap();
        assert_eq!(&body[dsi + 2..dsi + 4], &[0x11, 0x90]);
        assert_eq!(&body[body.len() - 3..], &[0x06, 0x01, 0x02]);
    }
}
