//! FLAC (`fLaC` + `dfLa`, Encapsulation of FLAC in ISO BMFF).

use gst::prelude::*;

use super::{CodecError, TrackFormat, first_stream_header};
use crate::boxes::{ChildBox, MediaKind, SampleEntry};

/// The STREAMINFO fields the sample entry needs, and the block itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub rate: u32,
    pub channels: u8,
    pub bits_per_sample: u8,
    /// The 34-byte STREAMINFO body.
    pub block: Vec<u8>,
}

/// Finds STREAMINFO in the first `streamheader` buffer flacparse/flacenc put in the caps
/// (the Ogg-style mapping: `0x7f FLAC`, version, header count, `fLaC`, STREAMINFO), or in
/// a plain `fLaC` + STREAMINFO.
pub fn parse_stream_info(d: &[u8]) -> Result<StreamInfo, CodecError> {
    let bad = |why: &str| CodecError::invalid("FLAC stream header", why);
    let start = if d.starts_with(b"\x7fFLAC") {
        9
    } else if d.starts_with(b"fLaC") {
        0
    } else {
        return Err(bad("neither a FLAC mapping header nor fLaC"));
    };
    let rest = d.get(start..).ok_or_else(|| bad("truncated"))?;
    if !rest.starts_with(b"fLaC") {
        return Err(bad("no fLaC marker"));
    }
    let header = rest.get(4..8).ok_or_else(|| bad("no metadata block"))?;
    if header[0] & 0x7f != 0 {
        return Err(bad("the first metadata block is not STREAMINFO"));
    }
    let block = rest
        .get(8..42)
        .ok_or_else(|| bad("STREAMINFO truncated"))?
        .to_vec();
    let rate =
        (u32::from(block[10]) << 12) | (u32::from(block[11]) << 4) | (u32::from(block[12]) >> 4);
    let channels = ((block[12] >> 1) & 0x7) + 1;
    let bits_per_sample = (((block[12] & 1) << 4) | (block[13] >> 4)) + 1;
    if rate == 0 {
        return Err(bad("sample rate 0"));
    }
    Ok(StreamInfo {
        rate,
        channels,
        bits_per_sample,
        block,
    })
}

impl StreamInfo {
    /// The `dfLa` body after the full box header: STREAMINFO as the last metadata block.
    pub fn dfla(&self) -> Vec<u8> {
        let mut b = vec![0x80, 0, 0, 34];
        b.extend_from_slice(&self.block);
        b
    }
}

/// Caps for a `fLaC` entry: the metadata blocks of `dfLa` behind the Ogg-style mapping
/// header as the first stream header, which `flacparse`/`flacdec` read.
pub(crate) fn to_caps(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    let dfla = super::child(entry, b"dfLa")?;
    let mut header = b"\x7fFLAC\x01\x00\x00\x00fLaC".to_vec();
    header.extend_from_slice(dfla);
    let info = parse_stream_info(&header)?;
    let headers = gst::Array::new([super::opus::header_buffer(header).to_send_value()]);
    Ok(gst::Caps::builder("audio/x-flac")
        .field("framed", true)
        .field("rate", info.rate as i32)
        .field("channels", i32::from(info.channels))
        .field("streamheader", headers)
        .build())
}

pub(crate) fn from_caps(s: &gst::StructureRef) -> Result<TrackFormat, CodecError> {
    let header = first_stream_header(s, "FLAC stream header")?
        .ok_or(CodecError::MissingField("streamheader"))?;
    let info = parse_stream_info(&header)?;
    Ok(TrackFormat {
        entry: SampleEntry {
            fourcc: *b"fLaC",
            kind: MediaKind::Audio {
                channels: u16::from(info.channels),
                sample_rate: info.rate,
            },
            children: vec![ChildBox {
                fourcc: *b"dfLa",
                full: Some((0, 0)),
                body: info.dfla(),
            }],
        },
        timescale: info.rate,
        codec_string: "flac".into(),
        default_duration: None,
        is_video: false,
        nal_length_size: None,
        frame_ticks: None,
        priming: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_info_from_the_mapping_header() {
        let hex = "7f464c414301000002664c614300000022120012000000000000000ac440700000000000000000000000000000000000000000";
        let d: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let info = parse_stream_info(&d).unwrap();
        assert_eq!(
            (info.rate, info.channels, info.bits_per_sample),
            (44100, 1, 8)
        );
        assert_eq!(info.dfla().len(), 38);
        assert!(parse_stream_info(&d[..20]).is_err());
        assert!(parse_stream_info(b"OggS").is_err());
    }
}
