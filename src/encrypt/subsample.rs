//! Which bytes of a sample stay clear under Common Encryption (ISO/IEC 23001-7): the
//! subsample map, per codec family. Pure: bytes in, (clear, protected) runs out.

use std::ops::Range;

/// One subsample: `clear` bytes in the clear, then `protected` encrypted bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subsample {
    pub clear: u16,
    pub protected: u32,
}

/// Why a sample cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubsampleError {
    #[error("NAL unit at byte {offset} claims {length} bytes, past the sample's {size}")]
    NalOverrun {
        offset: usize,
        length: usize,
        size: usize,
    },
    #[error("the sample ends inside a NAL length field at byte {0}")]
    TruncatedLength(usize),
    /// The codec's headers could not be parsed, so the clear part is unknown.
    #[error("{codec}: {why}")]
    Parse { codec: &'static str, why: String },
}

/// How a codec's NAL units are laid out and which carry slice data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalCodec {
    /// H.264: 1-byte NAL header, VCL types 1..=5.
    Avc,
    /// H.265: 2-byte NAL header, VCL types 0..=31.
    Hevc,
}

impl NalCodec {
    /// Bytes of the NAL unit header.
    pub fn header_len(self) -> usize {
        match self {
            NalCodec::Avc => 1,
            NalCodec::Hevc => 2,
        }
    }

    /// Whether the NAL unit whose first byte is `first` carries slice data.
    pub fn is_vcl(self, first: u8) -> bool {
        match self {
            NalCodec::Avc => matches!(first & 0x1f, 1..=5),
            NalCodec::Hevc => (first >> 1) & 0x3f <= 31,
        }
    }
}

/// Appends `clear` then `protected` bytes, merging clear runs and splitting clear runs
/// longer than the 16-bit field.
fn push(out: &mut Vec<Subsample>, mut clear: usize, protected: usize) {
    if let Some(last) = out.last_mut()
        && last.protected == 0
    {
        clear += usize::from(last.clear);
        out.pop();
    }
    while clear > usize::from(u16::MAX) {
        out.push(Subsample {
            clear: u16::MAX,
            protected: 0,
        });
        clear -= usize::from(u16::MAX);
    }
    out.push(Subsample {
        clear: clear as u16,
        protected: protected as u32,
    });
}

/// The subsample map of a sample whose protected data is `ranges` (sorted, disjoint,
/// inside the sample's `len` bytes); everything else stays clear. `align` (`cenc`, and
/// VP9 under either scheme): of each range only its largest whole number of 16-byte
/// blocks ending at the range's end is protected, the leading remainder clear, and a
/// range under 16 bytes stays clear. Without `align` (`cbcs`), each range is protected
/// from its first byte, one subsample per range whatever its size (the cipher leaves a
/// partial last block clear).
pub fn ranges_subsamples(len: usize, ranges: &[Range<usize>], align: bool) -> Vec<Subsample> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut clear = 0;
    for r in ranges {
        let start = r.start.clamp(pos, len);
        let end = r.end.clamp(start, len);
        let mut protected = end - start;
        clear += start - pos;
        pos = end;
        if align {
            clear += protected % 16;
            protected -= protected % 16;
            if protected == 0 {
                continue;
            }
        }
        push(&mut out, clear, protected);
        clear = 0;
    }
    clear += len - pos;
    if clear > 0 || out.is_empty() {
        push(&mut out, clear, 0);
    }
    out
}

/// Walks a length-prefixed (`avc1`/`hvc1`) sample: for each NAL unit, `protect` gets its
/// bytes (from the NAL header on) and answers how many of its first bytes stay clear,
/// or `None` to keep the whole unit clear. Returns the protected ranges in the sample.
pub fn nal_ranges(
    data: &[u8],
    length_size: usize,
    mut protect: impl FnMut(&[u8]) -> Result<Option<usize>, SubsampleError>,
) -> Result<Vec<Range<usize>>, SubsampleError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(len_bytes) = data.get(pos..pos + length_size) else {
            return Err(SubsampleError::TruncatedLength(pos));
        };
        let length = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let body = pos + length_size;
        let Some(nal) = data.get(body..body + length) else {
            return Err(SubsampleError::NalOverrun {
                offset: pos,
                length,
                size: data.len(),
            });
        };
        if length > 0
            && let Some(keep) = protect(nal)?
            && keep < length
        {
            out.push(body + keep..body + length);
        }
        pos = body + length;
    }
    Ok(out)
}

/// The `cenc` subsample map of a length-prefixed (`avc1`/`hvc1`) sample: length fields,
/// NAL headers and non-VCL NAL units clear; of each VCL NAL unit, after its header and
/// `clear_after_header` more bytes, the largest whole number of 16-byte blocks
/// protected, the rest clear (so every protected range is block-aligned, as 23001-7
/// asks of `cenc` video).
pub fn nal_subsamples(
    data: &[u8],
    length_size: usize,
    codec: NalCodec,
    clear_after_header: usize,
) -> Result<Vec<Subsample>, SubsampleError> {
    let ranges = nal_ranges(data, length_size, |nal| {
        Ok(codec
            .is_vcl(nal[0])
            .then_some(codec.header_len() + clear_after_header))
    })?;
    Ok(ranges_subsamples(data.len(), &ranges, true))
}

/// Audio and other unstructured samples: the whole sample protected (one run, no map).
pub fn whole_sample(len: usize) -> Vec<Subsample> {
    vec![Subsample {
        clear: 0,
        protected: len as u32,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nal(kind: u8, len: usize) -> Vec<u8> {
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(kind);
        v.extend(std::iter::repeat_n(0xab, len - 1));
        v
    }

    #[test]
    fn parameter_sets_stay_clear_and_slices_are_block_aligned() {
        // SPS (7), PPS (8), then an IDR slice (5) of 100 bytes.
        let mut s = nal(7, 10);
        s.extend(nal(8, 4));
        s.extend(nal(5, 100));
        let map = nal_subsamples(&s, 4, NalCodec::Avc, 0).unwrap();
        // 99 bytes after the NAL header: 96 protected, 3 more clear before them.
        assert_eq!(
            map,
            vec![Subsample {
                clear: (14 + 8 + 4 + 1 + 3) as u16,
                protected: 96
            }]
        );
        let total: usize = map
            .iter()
            .map(|m| usize::from(m.clear) + m.protected as usize)
            .sum();
        assert_eq!(total, s.len());
        assert!(map.iter().all(|m| m.protected % 16 == 0));
    }

    #[test]
    fn each_slice_gets_its_own_subsample_and_cbcs_keeps_the_slice_header() {
        let mut s = nal(1, 40);
        s.extend(nal(1, 17));
        let map = nal_subsamples(&s, 4, NalCodec::Avc, 8).unwrap();
        // 40 - 1 - 8 = 31 -> 16 protected; the second has 17 - 9 = 8 -> none.
        assert_eq!(
            map[0],
            Subsample {
                clear: 4 + 24,
                protected: 16
            }
        );
        assert_eq!(
            map[1],
            Subsample {
                clear: 4 + 17,
                protected: 0
            }
        );
    }

    #[test]
    fn hevc_headers_are_two_bytes_and_non_vcl_types_stay_clear() {
        // VPS (32 << 1 = 0x40), then a TRAIL_R slice (1 << 1 = 0x02) of 50 bytes.
        let mut s = nal(0x40, 20);
        s.extend(nal(0x02, 50));
        let map = nal_subsamples(&s, 4, NalCodec::Hevc, 0).unwrap();
        assert_eq!(
            map,
            vec![Subsample {
                clear: (24 + 4 + 2) as u16,
                protected: 48
            }]
        );
    }

    #[test]
    fn long_clear_runs_split_and_bad_lengths_are_errors() {
        let s = nal(7, 70_000);
        let map = nal_subsamples(&s, 4, NalCodec::Avc, 0).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(
            map.iter().map(|m| usize::from(m.clear)).sum::<usize>(),
            s.len()
        );
        let mut bad = nal(5, 30);
        bad[3] = 200;
        assert!(matches!(
            nal_subsamples(&bad, 4, NalCodec::Avc, 0),
            Err(SubsampleError::NalOverrun { .. })
        ));
        assert_eq!(
            nal_subsamples(&[0, 0], 4, NalCodec::Avc, 0),
            Err(SubsampleError::TruncatedLength(0))
        );
    }
}
