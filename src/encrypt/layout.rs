//! Which subsample rules a track follows, chosen by its sample entry and scheme, and
//! the per-track parser state they need. Pure: sample bytes in, subsample map out.

use super::av1::Av1Tiles;
use super::slice_header::SliceHeaders;
use super::subsample::{
    NalCodec, Subsample, SubsampleError, nal_subsamples, ranges_subsamples, whole_sample,
};
use super::vp9::Vp9Frames;

/// How a track's samples are split into clear and protected bytes.
pub enum SampleLayout {
    /// `avc1`/`hvc1` under `cenc`: length fields, NAL headers and non-VCL units clear,
    /// each slice's block-aligned tail protected.
    NalCenc { length_size: usize, codec: NalCodec },
    /// `avc1`/`hvc1` under `cbcs`: slice headers clear too, each slice's data protected
    /// from its first byte.
    NalCbcs {
        length_size: usize,
        headers: SliceHeaders,
    },
    /// `vp09`: uncompressed headers and the superframe index clear; block-aligned under
    /// either scheme, as the VP9 binding asks.
    Vp9(Box<Vp9Frames>),
    /// `av01`: only tile data protected; block-aligned tails under `cenc`, whole tiles
    /// under `cbcs`.
    Av1 { tiles: Box<Av1Tiles>, align: bool },
    /// Audio: the whole sample, no subsample map.
    Whole,
}

impl SampleLayout {
    /// The rules for a track with sample entry `fourcc`, codec configuration record
    /// `config` (`avcC`/`hvcC`/`av1C` body, empty when there is none) and NAL length size;
    /// `None` for video without subsample rules.
    pub fn new(
        fourcc: &[u8; 4],
        config: &[u8],
        nal_length_size: Option<u8>,
        is_video: bool,
        cbcs: bool,
    ) -> Result<Option<SampleLayout>, SubsampleError> {
        let length_size = usize::from(nal_length_size.unwrap_or(4));
        let nal = match fourcc {
            b"avc1" | b"avc3" => Some(NalCodec::Avc),
            b"hvc1" | b"hev1" => Some(NalCodec::Hevc),
            _ => None,
        };
        Ok(Some(match (nal, fourcc) {
            (Some(codec), _) if cbcs => SampleLayout::NalCbcs {
                length_size,
                headers: SliceHeaders::new(codec, config)?,
            },
            (Some(codec), _) => SampleLayout::NalCenc { length_size, codec },
            (None, b"vp09") => SampleLayout::Vp9(Box::default()),
            (None, b"av01") => SampleLayout::Av1 {
                tiles: Box::new(Av1Tiles::new(config)?),
                align: !cbcs,
            },
            _ if is_video => return Ok(None),
            _ => SampleLayout::Whole,
        }))
    }

    /// Whether samples carry a subsample map in `senc` (video) or are whole (audio).
    pub fn has_map(&self) -> bool {
        !matches!(self, SampleLayout::Whole)
    }

    /// The subsample map of the next sample (samples in decode order).
    pub fn map(&mut self, data: &[u8]) -> Result<Vec<Subsample>, SubsampleError> {
        match self {
            SampleLayout::NalCenc { length_size, codec } => {
                nal_subsamples(data, *length_size, *codec, 0)
            }
            SampleLayout::NalCbcs {
                length_size,
                headers,
            } => headers.cbcs_subsamples(data, *length_size),
            SampleLayout::Vp9(frames) => {
                let ranges = frames.protected_ranges(data)?;
                Ok(ranges_subsamples(data.len(), &ranges, true))
            }
            SampleLayout::Av1 { tiles, align } => {
                let ranges = tiles.tile_ranges(data)?;
                Ok(ranges_subsamples(data.len(), &ranges, *align))
            }
            SampleLayout::Whole => Ok(whole_sample(data.len())),
        }
    }
}
