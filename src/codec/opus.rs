//! Opus (`Opus` + `dOps`, Encapsulation of Opus in ISO BMFF): timescale always 48000.

use gst::prelude::*;

use super::{CodecError, TrackFormat, first_stream_header};
use crate::boxes::{ChildBox, MediaKind, SampleEntry};

/// The identification header fields the muxer writes into `dOps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    pub channels: u8,
    pub pre_skip: u16,
    pub input_rate: u32,
    pub output_gain: i16,
    pub mapping_family: u8,
    /// Stream count, coupled count and the channel mapping, for families other than 0.
    pub mapping: Option<(u8, u8, Vec<u8>)>,
}

/// `OpusHead` (RFC 7845 5.1) and `dOps` (Opus in ISO BMFF 4.3.2) hold the same fields after
/// their version byte: little-endian in the former, big-endian in the latter.
#[derive(Clone, Copy)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }

    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }

    fn bytes<const N: usize>(self, mut b: [u8; N]) -> [u8; N] {
        if matches!(self, Order::Little) {
            b.reverse();
        }
        b
    }
}

/// Reads the fields after the version byte (`d[0]` is the version).
fn parse_fields(d: &[u8], order: Order, what: &'static str) -> Result<OpusHead, CodecError> {
    let bad = |why: &str| CodecError::invalid(what, why);
    if d.len() < 11 {
        return Err(bad("shorter than its 11 fixed bytes"));
    }
    let channels = d[1];
    if channels == 0 {
        return Err(bad("0 channels"));
    }
    let mapping_family = d[10];
    let mapping = if mapping_family == 0 {
        None
    } else {
        let table = d
            .get(11..13 + usize::from(channels))
            .ok_or_else(|| bad("channel mapping table truncated"))?;
        Some((table[0], table[1], table[2..].to_vec()))
    };
    Ok(OpusHead {
        channels,
        pre_skip: order.u16([d[2], d[3]]),
        input_rate: order.u32([d[4], d[5], d[6], d[7]]),
        output_gain: order.u16([d[8], d[9]]) as i16,
        mapping_family,
        mapping,
    })
}

/// Parses an `OpusHead` packet (RFC 7845 5.1; little-endian fields).
pub fn parse_opus_head(d: &[u8]) -> Result<OpusHead, CodecError> {
    let bad = |why: &str| CodecError::invalid("OpusHead", why);
    let Some(fields) = d.strip_prefix(b"OpusHead") else {
        return Err(bad("no OpusHead magic"));
    };
    if fields.first().is_some_and(|v| v >> 4 != 0) {
        return Err(bad("unsupported version"));
    }
    parse_fields(fields, Order::Little, "OpusHead")
}

/// Parses a `dOps` body back into the OpusHead fields.
pub fn parse_dops(d: &[u8]) -> Result<OpusHead, CodecError> {
    if d.first().is_some_and(|v| *v != 0) {
        return Err(CodecError::invalid("dOps", "version is not 0"));
    }
    parse_fields(d, Order::Big, "dOps")
}

impl OpusHead {
    /// The fields after a version byte, in `order`.
    fn fields(&self, version: u8, order: Order) -> Vec<u8> {
        let mut b = vec![version, self.channels];
        b.extend_from_slice(&order.bytes(self.pre_skip.to_be_bytes()));
        b.extend_from_slice(&order.bytes(self.input_rate.to_be_bytes()));
        b.extend_from_slice(&order.bytes(self.output_gain.to_be_bytes()));
        b.push(self.mapping_family);
        if let Some((streams, coupled, table)) = &self.mapping {
            b.push(*streams);
            b.push(*coupled);
            b.extend_from_slice(table);
        }
        b
    }

    /// The `dOps` body (big-endian fields).
    pub fn dops(&self) -> Vec<u8> {
        self.fields(0, Order::Big)
    }

    /// The `OpusHead` packet (RFC 7845 5.1).
    pub fn packet(&self) -> Vec<u8> {
        let mut b = b"OpusHead".to_vec();
        b.extend(self.fields(1, Order::Little));
        b
    }
}

/// Caps for an `Opus` entry, with the OpusHead rebuilt from `dOps` (and an empty
/// OpusTags) as stream headers, as `opusparse` would set them.
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    let head = parse_dops(super::child(entry, b"dOps")?)?;
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"gst-plugin-fragmp4";
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    let headers = gst::Array::new([
        header_buffer(head.packet()).to_send_value(),
        header_buffer(tags).to_send_value(),
    ]);
    Ok(gst::Caps::builder("audio/x-opus")
        .field("channel-mapping-family", i32::from(head.mapping_family))
        .field("channels", i32::from(head.channels))
        .field("rate", 48000i32)
        .field("streamheader", headers)
        .build())
}

/// A stream header buffer, flagged `HEADER`.
pub(crate) fn header_buffer(data: Vec<u8>) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    b.get_mut()
        .expect("new buffer is writable")
        .set_flags(gst::BufferFlags::HEADER);
    b
}

pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    let head = match first_stream_header(s, "OpusHead")? {
        Some(header) => parse_opus_head(&header)?,
        // Without headers: a mono/stereo stream described by the caps, no pre-skip.
        None => {
            let channels = s
                .get::<i32>("channels")
                .map_err(|_| CodecError::MissingField("channels"))?;
            if !(1..=2).contains(&channels) {
                return Err(CodecError::MissingField("streamheader"));
            }
            OpusHead {
                channels: channels as u8,
                pre_skip: 0,
                input_rate: s.get::<i32>("rate").unwrap_or(48000) as u32,
                output_gain: 0,
                mapping_family: 0,
                mapping: None,
            }
        }
    };
    Ok(TrackFormat {
        entry: SampleEntry {
            fourcc: *b"Opus",
            kind: MediaKind::Audio {
                channels: u16::from(head.channels),
                sample_rate: 48000,
            },
            children: vec![ChildBox {
                fourcc: *b"dOps",
                full: None,
                body: head.dops(),
            }],
        },
        timescale: 48000,
        codec_string: "opus".into(),
        default_duration: Some(20_000_000),
        is_video: false,
        nal_length_size: None,
        frame_ticks: None,
        priming: u32::from(head.pre_skip),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dops_round_trips_to_opus_head() {
        let head = OpusHead {
            channels: 6,
            pre_skip: 312,
            input_rate: 44100,
            output_gain: -3,
            mapping_family: 1,
            mapping: Some((4, 2, vec![0, 4, 1, 2, 3, 5])),
        };
        assert_eq!(parse_dops(&head.dops()).unwrap(), head);
        assert_eq!(parse_opus_head(&head.packet()).unwrap(), head);
        assert!(parse_dops(&head.dops()[..12]).is_err());
    }

    #[test]
    fn opus_head_to_dops() {
        let head = [
            b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0,
            0, 0,
        ];
        let h = parse_opus_head(&head).unwrap();
        assert_eq!((h.channels, h.pre_skip, h.input_rate), (1, 312, 48000));
        assert_eq!(h.dops(), vec![0, 1, 0x01, 0x38, 0, 0, 0xbb, 0x80, 0, 0, 0]);
        assert!(parse_opus_head(&head[..12]).is_err());
        let mut multi = head.to_vec();
        multi[9] = 3;
        multi[18] = 1;
        assert!(
            parse_opus_head(&multi).is_err(),
            "family 1 needs its mapping table"
        );
        multi.extend_from_slice(&[2, 1, 0, 2, 1]);
        assert_eq!(
            parse_opus_head(&multi).unwrap().mapping,
            Some((2, 1, vec![0, 2, 1]))
        );
    }
}
