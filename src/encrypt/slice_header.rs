//! The `cbcs` subsample map of H.264 and H.265 samples: each slice's NAL header and
//! slice header clear, its slice data protected from the first byte after the header
//! (ISO/IEC 23001-7 `cbcs`: the pattern starts at the slice data, a partial last block
//! stays clear). The slice header is parsed with ChromeOS's `cros-codecs` parsers, with
//! the parameter sets of the sample entry (`avcC`/`hvcC`) and those sent in band.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Cursor;

use cros_codecs::codec::h264::nalu::Header;
use cros_codecs::codec::{h264, h265};

use super::subsample::{NalCodec, Subsample, SubsampleError, nal_ranges, ranges_subsamples};

/// A track's parameter sets, kept as raw NAL units so the (single-threaded) parsers can
/// be rebuilt for each sample.
#[derive(Debug, Clone)]
pub struct SliceHeaders {
    codec: NalCodec,
    /// The latest parameter set NAL unit per (NAL type, id).
    sets: BTreeMap<(u8, u8), Vec<u8>>,
}

fn parse_error(codec: NalCodec, why: impl std::fmt::Display) -> SubsampleError {
    SubsampleError::Parse {
        codec: match codec {
            NalCodec::Avc => "H.264",
            NalCodec::Hevc => "H.265",
        },
        why: why.to_string(),
    }
}

/// The parameter set NAL units of an `avcC` or `hvcC` record.
fn config_sets(codec: NalCodec, record: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut take = |pos: &mut usize| -> Option<()> {
        let len = usize::from(u16::from_be_bytes([
            *record.get(*pos)?,
            *record.get(*pos + 1)?,
        ]));
        out.push(record.get(*pos + 2..*pos + 2 + len)?);
        *pos += 2 + len;
        Some(())
    };
    match codec {
        NalCodec::Avc => {
            let mut pos = 6;
            for _ in 0..record.get(5)? & 0x1f {
                take(&mut pos)?;
            }
            let pps = *record.get(pos)?;
            pos += 1;
            for _ in 0..pps {
                take(&mut pos)?;
            }
        }
        NalCodec::Hevc => {
            let mut pos = 23;
            for _ in 0..*record.get(22)? {
                let count = u16::from_be_bytes([*record.get(pos + 1)?, *record.get(pos + 2)?]);
                pos += 3;
                for _ in 0..count {
                    take(&mut pos)?;
                }
            }
        }
    }
    Some(out)
}

/// One sample's parsers, fed with the track's parameter sets.
enum Parsers {
    Avc(h264::parser::Parser),
    Hevc(h265::parser::Parser),
}

fn avc_nalu(nal: &[u8]) -> Result<h264::parser::Nalu<'_>, String> {
    Ok(h264::parser::Nalu {
        header: h264::parser::NaluHeader::parse(&mut Cursor::new(nal))?,
        data: Cow::Borrowed(nal),
        size: nal.len(),
        offset: 0,
    })
}

fn hevc_nalu(nal: &[u8]) -> Result<h265::parser::Nalu<'_>, String> {
    Ok(h265::parser::Nalu {
        header: h265::parser::NaluHeader::parse(&mut Cursor::new(nal))?,
        data: Cow::Borrowed(nal),
        size: nal.len(),
        offset: 0,
    })
}

/// What one NAL unit is to the map.
enum Nal {
    /// A parameter set, stored under (type, id).
    Set(u8, u8),
    /// A slice whose first `n` bytes (NAL header and slice header) stay clear.
    Slice(usize),
    /// Anything else: clear.
    Other,
}

/// The bytes from the NAL start to the end of a slice header of `rbsp_bits` (NAL header
/// included, emulation prevention bytes removed) with `epb` emulation prevention bytes
/// inside it: rounded up to the byte holding its last bit.
fn header_bytes(nal_len: usize, rbsp_bits: usize, epb: usize) -> usize {
    (rbsp_bits + 8 * epb).div_ceil(8).min(nal_len)
}

impl Parsers {
    fn classify(&mut self, nal: &[u8]) -> Result<Nal, String> {
        match self {
            Parsers::Avc(p) => {
                let kind = nal[0] & 0x1f;
                match kind {
                    7 => Ok(Nal::Set(
                        kind,
                        p.parse_sps(&avc_nalu(nal)?)?.seq_parameter_set_id,
                    )),
                    8 => Ok(Nal::Set(
                        kind,
                        p.parse_pps(&avc_nalu(nal)?)?.pic_parameter_set_id,
                    )),
                    1..=5 => {
                        let slice = p.parse_slice_header(avc_nalu(nal)?)?;
                        let h = &slice.header;
                        Ok(Nal::Slice(header_bytes(
                            nal.len(),
                            h.header_bit_size,
                            h.n_emulation_prevention_bytes,
                        )))
                    }
                    _ => Ok(Nal::Other),
                }
            }
            Parsers::Hevc(p) => {
                let kind = (nal[0] >> 1) & 0x3f;
                match kind {
                    32 => Ok(Nal::Set(
                        kind,
                        p.parse_vps(&hevc_nalu(nal)?)?.video_parameter_set_id,
                    )),
                    33 => Ok(Nal::Set(
                        kind,
                        p.parse_sps(&hevc_nalu(nal)?)?.seq_parameter_set_id,
                    )),
                    34 => Ok(Nal::Set(
                        kind,
                        p.parse_pps(&hevc_nalu(nal)?)?.pic_parameter_set_id,
                    )),
                    0..=31 => {
                        let slice = p.parse_slice_header(hevc_nalu(nal)?)?;
                        let h = &slice.header;
                        Ok(Nal::Slice(header_bytes(
                            nal.len(),
                            h.header_bit_size as usize,
                            h.n_emulation_prevention_bytes as usize,
                        )))
                    }
                    _ => Ok(Nal::Other),
                }
            }
        }
    }
}

impl SliceHeaders {
    /// The parameter sets of `record` (the `avcC`/`hvcC` body; empty: all in band).
    pub fn new(codec: NalCodec, record: &[u8]) -> Result<Self, SubsampleError> {
        let mut out = SliceHeaders {
            codec,
            sets: BTreeMap::new(),
        };
        if record.is_empty() {
            return Ok(out);
        }
        let sets = config_sets(codec, record)
            .ok_or_else(|| parse_error(codec, "the codec configuration record is truncated"))?;
        let mut parsers = out.parsers();
        for nal in sets.into_iter().filter(|n| !n.is_empty()) {
            out.observe(&mut parsers, nal)?;
        }
        Ok(out)
    }

    fn parsers(&self) -> Parsers {
        let mut p = match self.codec {
            NalCodec::Avc => Parsers::Avc(Default::default()),
            NalCodec::Hevc => Parsers::Hevc(Default::default()),
        };
        // Stored in (type, id) order: VPS before SPS before PPS, as each needs the one before.
        for nal in self.sets.values() {
            let _ = p.classify(nal);
        }
        p
    }

    /// Classifies `nal`, storing it when it is a parameter set.
    fn observe(&mut self, parsers: &mut Parsers, nal: &[u8]) -> Result<Nal, SubsampleError> {
        let what = catch(|| parsers.classify(nal)).map_err(|why| parse_error(self.codec, why))?;
        if let Nal::Set(kind, id) = what {
            self.sets.insert((kind, id), nal.to_vec());
        }
        Ok(what)
    }

    /// The clear bytes of each slice NAL unit of a length-prefixed sample: its NAL header
    /// and slice header, rounded up to the byte holding the header's last bit.
    pub fn slice_header_lengths(
        &mut self,
        data: &[u8],
        length_size: usize,
    ) -> Result<Vec<usize>, SubsampleError> {
        let mut out = Vec::new();
        let mut parsers = self.parsers();
        nal_ranges(data, length_size, |nal| {
            if let Nal::Slice(n) = self.observe(&mut parsers, nal)? {
                out.push(n);
            }
            Ok(None)
        })?;
        Ok(out)
    }

    /// The `cbcs` map of a length-prefixed sample: non-slice NAL units, length fields, NAL
    /// headers and slice headers clear; each slice's data protected from its first byte
    /// to the NAL unit's end.
    pub fn cbcs_subsamples(
        &mut self,
        data: &[u8],
        length_size: usize,
    ) -> Result<Vec<Subsample>, SubsampleError> {
        let mut parsers = self.parsers();
        let ranges = nal_ranges(data, length_size, |nal| {
            Ok(match self.observe(&mut parsers, nal)? {
                Nal::Slice(n) => Some(n),
                _ => None,
            })
        })?;
        Ok(ranges_subsamples(data.len(), &ranges, false))
    }
}

/// Runs a parser step, turning a panic inside the parser (it asserts on some malformed
/// input) into an error: a bad bitstream must fail the track, never the process.
pub(crate) fn catch<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("the parser gave up on a malformed header".into()))
}
