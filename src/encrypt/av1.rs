//! Which bytes of an AV1 sample are protected (AV1-ISOBMFF, "Common Encryption"): only
//! the tile data (`decode_tile`) of Frame and Tile Group OBUs, one range per tile; OBU
//! headers and sizes, temporal delimiters, sequence headers, frame headers, tile group
//! headers and tile sizes, metadata, padding and every other OBU stay clear. Frame
//! headers and tile layouts are parsed with ChromeOS's `cros-codecs` AV1 parser, which
//! keeps the reference state (frame sizes, order hints) that later frame headers need.

use std::ops::Range;

use cros_codecs::codec::av1::parser::{FrameHeaderObu, ObuAction, ParsedObu, Parser};

use super::slice_header::catch;
use super::subsample::SubsampleError;

/// The AV1 parser of one track, fed every sample in decode order.
pub struct Av1Tiles {
    parser: Parser,
    /// The last frame header, applied to the reference state once its frame is complete.
    pending: Option<FrameHeaderObu>,
}

// SAFETY: `Parser` is `!Send` only because it holds `Rc`s (the sequence header). Every
// one of them is created by the parser and reachable only through it; `Av1Tiles` never
// hands out a parser value (its methods return plain ranges, and the `Rc` in a parsed
// sequence header OBU is dropped inside `parse`), and it is not `Clone`. All reference
// counts therefore change only on the thread that owns the `Av1Tiles` at the time.
unsafe impl Send for Av1Tiles {}

fn error(why: impl std::fmt::Display) -> SubsampleError {
    SubsampleError::Parse {
        codec: "AV1",
        why: why.to_string(),
    }
}

impl Av1Tiles {
    /// A parser that knows the sequence header in the `av1C` record (`record`: the box
    /// body; its configOBUs follow the first 4 bytes).
    pub fn new(record: &[u8]) -> Result<Self, SubsampleError> {
        let mut parser = Parser::default();
        // A temporal delimiter first settles the parser on the low-overhead format of
        // ISOBMFF samples (it probes for Annex B on its first OBU otherwise).
        catch(|| parser.read_obu(&[0x12, 0x00]).map(|_| ())).map_err(error)?;
        let mut out = Av1Tiles {
            parser,
            pending: None,
        };
        if let Some(obus) = record.get(4..)
            && !obus.is_empty()
        {
            out.tile_ranges(obus)?;
        }
        Ok(out)
    }

    fn flush(&mut self) -> Result<(), SubsampleError> {
        if let Some(fh) = self.pending.take() {
            let parser = &mut self.parser;
            catch(|| parser.ref_frame_update(&fh)).map_err(error)?;
        }
        Ok(())
    }

    /// The tile data ranges of a sample (a temporal unit of low-overhead OBUs).
    pub fn tile_ranges(&mut self, data: &[u8]) -> Result<Vec<Range<usize>>, SubsampleError> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            // obu_has_size_field (bit 1 of the header): the parser asserts on its absence.
            if data[pos] & 0x02 == 0 {
                return Err(error(format!(
                    "the OBU at byte {pos} has no obu_size field; only the last OBU of a sample may omit it, and this muxer needs it"
                )));
            }
            if matches!((data[pos] >> 3) & 0x0f, 3 | 6) {
                // A new frame header: the previous frame is complete.
                self.flush()?;
            }
            let parser = &mut self.parser;
            let rest = &data[pos..];
            let action = catch(|| parser.read_obu(rest)).map_err(error)?;
            let obu = match action {
                ObuAction::Process(obu) => obu,
                ObuAction::Drop(n) => {
                    pos += (n as usize).max(1);
                    continue;
                }
            };
            let used = obu.bytes_used;
            let payload = pos + used - obu.as_ref().len();
            let parsed = catch(|| parser.parse_obu(obu)).map_err(error)?;
            match parsed {
                ParsedObu::Frame(frame) => {
                    let base = payload + frame.header.header_bytes;
                    for t in &frame.tile_group.tiles {
                        let start = base + t.tile_offset as usize;
                        out.push(start..start + t.tile_size as usize);
                    }
                    self.pending = Some(frame.header);
                }
                ParsedObu::FrameHeader(fh) => self.pending = Some(fh),
                ParsedObu::TileGroup(tg) => {
                    for t in &tg.tiles {
                        let start = payload + t.tile_offset as usize;
                        out.push(start..start + t.tile_size as usize);
                    }
                }
                _ => {}
            }
            pos += used.max(1);
        }
        self.flush()?;
        if let Some(r) = out.iter().find(|r| r.end > data.len()) {
            return Err(error(format!(
                "a tile claims bytes {}..{} of a {}-byte sample",
                r.start,
                r.end,
                data.len()
            )));
        }
        Ok(out)
    }
}
