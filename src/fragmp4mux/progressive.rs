//! Progressive mode: sample tables kept in memory, payload spilled to a temporary file,
//! and the whole file (`moov` first) written at EOS.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::boxes::progressive::{SampleTable, TableChunk, TableSample, write_progressive};
use crate::boxes::{MovieDesc, TrackDesc};
use crate::fragmenter::Fragment;

/// Bytes per buffer when the spilled payload is streamed out.
pub const READ_CHUNK: usize = 1 << 20;

#[derive(Default)]
struct TrackTable {
    start_dts: Option<u64>,
    samples: Vec<TableSample>,
    chunks: Vec<TableChunk>,
}

/// Collects a progressive file while the stream runs.
pub struct Recorder {
    file: BufWriter<File>,
    written: u64,
    tracks: Vec<TrackTable>,
}

impl Recorder {
    /// A recorder spilling to an unnamed temporary file in `dir` (or the system's).
    pub fn new(dir: Option<&Path>) -> io::Result<Self> {
        let file = match dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        };
        Ok(Self {
            file: BufWriter::with_capacity(READ_CHUNK, file),
            written: 0,
            tracks: Vec::new(),
        })
    }

    /// Appends one run per track of `fragment` (an interleaving unit) to the file and the
    /// tables.
    pub fn add(&mut self, fragment: Fragment<gst::Buffer>) -> io::Result<()> {
        for t in fragment.tracks {
            if self.tracks.len() <= t.track {
                self.tracks.resize_with(t.track + 1, TrackTable::default);
            }
            let table = &mut self.tracks[t.track];
            table.start_dts.get_or_insert(t.base_decode_time);
            table.chunks.push(TableChunk {
                offset: self.written,
                samples: t.samples.len() as u32,
            });
            for (desc, buf) in t.samples.iter().zip(&t.payloads) {
                let map = buf
                    .map_readable()
                    .map_err(|_| io::Error::other("a sample buffer cannot be mapped"))?;
                self.file.write_all(&map)?;
                self.written += map.len() as u64;
                table.samples.push(TableSample {
                    duration: desc.duration,
                    size: desc.size,
                    composition_offset: desc.composition_offset,
                    sync: desc.sync,
                });
            }
        }
        Ok(())
    }

    /// The header (`ftyp`, `moov`, `mdat` header) and the file with the payload, rewound.
    /// `tracks[i]` describes fragmenter track `i` with its priming ticks, `None` for a
    /// pad without caps.
    pub fn finish(
        self,
        movie: &MovieDesc,
        tracks: &[Option<(TrackDesc, u64)>],
    ) -> io::Result<(Vec<u8>, File)> {
        let tables: Vec<SampleTable> = tracks
            .iter()
            .enumerate()
            .filter_map(|(i, desc)| {
                let (desc, priming) = desc.clone()?;
                let t = self.tracks.get(i);
                Some(SampleTable {
                    track: desc,
                    start_dts: t.and_then(|t| t.start_dts).unwrap_or(0),
                    samples: t.map(|t| t.samples.clone()).unwrap_or_default(),
                    chunks: t.map(|t| t.chunks.clone()).unwrap_or_default(),
                    priming,
                })
            })
            .collect();
        let header = write_progressive(movie, &tables, self.written);
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.flush()?;
        file.seek(SeekFrom::Start(0))?;
        Ok((header, file))
    }
}

/// Reads the next piece of the spilled payload, `None` at its end.
pub fn read_piece(file: &mut File) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    if filled == 0 {
        return Ok(None);
    }
    buf.truncate(filled);
    Ok(Some(buf))
}
