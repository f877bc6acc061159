//! The segment index of fragmented output (property `index`, DESIGN.md: `sidx`): one
//! `sidx` before each fragment (live), or one before all of them (a file), for which the
//! fragments are spilled to a temporary file until EOS.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use gst::glib;

use crate::boxes::sidx::{IndexedFragment, SidxDesc, index_of, write_sidx};
use crate::fragmenter::FragmentTrack;

/// Where `sidx` boxes go (DESIGN.md N: property `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstFragMp4MuxIndex")]
pub enum IndexMode {
    #[default]
    #[enum_value(name = "No segment index", nick = "none")]
    None,
    /// One `sidx` before the first `moof` covering every fragment, written at EOS.
    #[enum_value(
        name = "One sidx before the first fragment, covering all (a file; written at EOS)",
        nick = "single"
    )]
    Single,
    /// A `sidx` before each fragment, referencing it.
    #[enum_value(name = "A sidx before each fragment (live)", nick = "per-fragment")]
    PerFragment,
}

/// Why the `index` setting cannot work with the others, if it cannot.
pub(super) fn refused(s: &super::state::Settings) -> Option<&'static str> {
    use super::state::Mode;
    match s.index {
        IndexMode::None => None,
        _ if s.mode != Mode::Fragmented => Some("it needs mode=fragmented"),
        IndexMode::PerFragment if s.chunk_duration > 0 => {
            Some("a per-fragment sidx references one moof+mdat, so no chunk-duration")
        }
        _ => None,
    }
}

/// The reference track's part of a chunk: (earliest presentation, presentation end)
/// in its ticks.
pub fn reference_span<P>(t: &FragmentTrack<P>) -> (u64, u64) {
    let mut dts = i128::from(t.base_decode_time);
    let mut first = i128::MAX;
    for s in &t.samples {
        first = first.min(dts + i128::from(s.composition_offset));
        dts += i128::from(s.duration);
    }
    let first = if first == i128::MAX { dts } else { first };
    (first.max(0) as u64, t.presentation_end())
}

/// A live `sidx` for one fragment of `size` bytes right after it. Its duration is the
/// fragment's own presentation span (the next fragment's start is not known yet).
pub fn per_fragment_sidx(
    reference_id: u32,
    timescale: u32,
    size: u64,
    span: (u64, u64),
    keyframe_start: bool,
) -> Vec<u8> {
    write_sidx(&index_of(
        reference_id,
        timescale,
        0,
        &[IndexedFragment {
            size,
            earliest_presentation: span.0,
            presentation_end: span.1,
            starts_with_sap: keyframe_start,
        }],
    ))
}

/// `index=single`: the fragments go to a temporary file and are indexed as they pass.
pub struct Spill {
    file: BufWriter<File>,
    pub reference_id: u32,
    pub timescale: u32,
    fragments: Vec<IndexedFragment>,
}

impl Spill {
    /// A spill file in `dir` (or the system's temporary directory).
    pub fn new(dir: Option<&Path>, reference_id: u32, timescale: u32) -> io::Result<Self> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        };
        Ok(Self {
            file: BufWriter::with_capacity(1 << 20, file),
            reference_id,
            timescale,
            fragments: Vec::new(),
        })
    }

    /// Writes bytes of the chunk being spilled.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Ends a chunk of `size` bytes: one that starts a fragment opens a new subsegment,
    /// the others extend the current one. `span` is the reference track's part of it.
    pub fn end_chunk(&mut self, size: u64, keyframe_start: bool, span: Option<(u64, u64)>) {
        match self.fragments.last_mut() {
            Some(f) if !keyframe_start => {
                f.size += size;
                if let Some((start, end)) = span {
                    f.earliest_presentation = f.earliest_presentation.min(start);
                    f.presentation_end = f.presentation_end.max(end);
                }
            }
            _ => {
                let (start, end) = span.unwrap_or_else(|| {
                    let prev = self.fragments.last().map_or(0, |f| f.presentation_end);
                    (prev, prev)
                });
                self.fragments.push(IndexedFragment {
                    size,
                    earliest_presentation: start,
                    presentation_end: end,
                    starts_with_sap: keyframe_start,
                });
            }
        }
    }

    /// The `sidx` and the spilled fragments, rewound.
    pub fn finish(self) -> io::Result<(Vec<u8>, File)> {
        let desc: SidxDesc = index_of(self.reference_id, self.timescale, 0, &self.fragments);
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.flush()?;
        file.seek(SeekFrom::Start(0))?;
        Ok((write_sidx(&desc), file))
    }
}
