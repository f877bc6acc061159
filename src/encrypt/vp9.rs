//! Which bytes of a VP9 sample are protected (VP codec ISO-BMFF binding, "Common
//! Encryption"): each frame of a superframe on its own, its uncompressed header clear and
//! the rest of the frame protected; the superframe index clear. The uncompressed header
//! is parsed with ChromeOS's `cros-codecs` VP9 parser, which keeps the reference frame
//! sizes that inter frame headers need; the superframe index is read here.

use std::ops::Range;

use cros_codecs::codec::vp9::parser::Parser;

use super::slice_header::catch;
use super::subsample::SubsampleError;

/// The VP9 parser of one track, fed every sample in decode order.
#[derive(Default)]
pub struct Vp9Frames {
    parser: Parser,
}

fn error(why: impl std::fmt::Display) -> SubsampleError {
    SubsampleError::Parse {
        codec: "VP9",
        why: why.to_string(),
    }
}

/// The (offset, size) of each frame of a sample: those its superframe index lists, or
/// the whole sample when it has none (VP9 Annex B).
pub fn superframe(data: &[u8]) -> Result<Vec<(usize, usize)>, SubsampleError> {
    let whole = vec![(0, data.len())];
    let Some(&last) = data.last() else {
        return Ok(Vec::new());
    };
    if last & 0xe0 != 0xc0 {
        return Ok(whole);
    }
    let frames = usize::from(last & 0x07) + 1;
    let mag = usize::from((last >> 3) & 0x03) + 1;
    let index = 2 + mag * frames;
    if data.len() < index || data[data.len() - index] != last {
        return Ok(whole);
    }
    let sizes = &data[data.len() - index + 1..data.len() - 1];
    let mut out = Vec::with_capacity(frames);
    let mut offset = 0;
    for size in sizes.chunks(mag) {
        let size = size
            .iter()
            .rev()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        out.push((offset, size));
        offset += size;
    }
    if offset > data.len() - index {
        return Err(error(format!(
            "the superframe index lists {offset} bytes of frames in a {}-byte sample",
            data.len()
        )));
    }
    Ok(out)
}

impl Vp9Frames {
    /// The protected range of each frame of a sample: from the end of its uncompressed
    /// header to its end (none for a frame that only shows an existing one).
    pub fn protected_ranges(&mut self, data: &[u8]) -> Result<Vec<Range<usize>>, SubsampleError> {
        let mut out = Vec::new();
        for (offset, size) in superframe(data)? {
            if size == 0 {
                continue;
            }
            let frame = &data[..offset + size];
            let parser = &mut self.parser;
            let header = catch(|| parser.parse_frame(frame, offset, size).map(|f| f.header))
                .map_err(|why| error(format!("frame at byte {offset}: {why}")))?;
            if header.show_existing_frame {
                continue;
            }
            let clear = usize::from(header.uncompressed_header_size_in_bytes);
            if clear == 0 || clear > size {
                return Err(error(format!(
                    "frame at byte {offset}: an uncompressed header of {clear} bytes in {size}"
                )));
            }
            out.push(offset + clear..offset + size);
        }
        Ok(out)
    }
}
