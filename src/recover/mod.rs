//! Turning a fragmented recording into an ordinary MP4 in place: a complete `moov`
//! whose sample tables point at the payload where it already lies, and the fragmented
//! boxes (`moov` with `mvex`, every `moof`) renamed `free` so readers see one movie.
//! Used by `fragmp4mux mode=hybrid` at EOS and by the `fragmp4-recover` command on a
//! file a crash left behind (complete fragments kept, a torn tail dropped).

pub mod scan;
pub mod tables;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::boxes::MovieDesc;
use crate::boxes::progressive::{SampleTable, write_moov};
use crate::boxes::reader::ReadError;
use crate::demux::fragment::MoofInfo;
use crate::demux::movie::Movie;
pub use tables::{PlacedSample, TrackTables};

/// Why a file cannot be recovered.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("no fragmented 'moov' (with 'mvex') before the fragments: not a fragmented recording")]
    NoMovie,
    #[error("the file is a finished MP4 already")]
    AlreadyFinished { moofs: Vec<u64> },
    #[error("'{kind}' at byte {offset} is larger than 64 MiB")]
    TooLarge { kind: String, offset: u64 },
}

/// Bytes to write at a file offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// What finishing writes, in this order: the complete `moov` appended at `end`, then
/// `free` over the type of each box at `neutralise` (the fragmented `moov` first, then
/// every `moof`). A crash part-way leaves the new `moov` in place, which
/// `fragmp4-recover` completes.
pub fn finishing_patches(
    moov: Vec<u8>,
    end: u64,
    neutralise: impl IntoIterator<Item = u64>,
) -> Vec<Patch> {
    let mut out = vec![Patch {
        offset: end,
        bytes: moov,
    }];
    out.extend(neutralise.into_iter().map(|at| Patch {
        offset: at + 4,
        bytes: b"free".to_vec(),
    }));
    out
}

/// The sample tables of the complete fragments of `movie`, track by track.
pub fn tables_from_fragments(movie: &Movie, fragments: &[MoofInfo]) -> Vec<SampleTable> {
    let mut tracks: BTreeMap<u32, TrackTables> = BTreeMap::new();
    for s in fragments.iter().flat_map(|f| &f.samples) {
        tracks.entry(s.track_id).or_default().push(PlacedSample {
            offset: s.offset,
            size: s.size,
            dts: s.dts,
            duration: s.duration,
            composition_offset: s.composition_offset.clamp(i32::MIN.into(), i32::MAX.into()) as i32,
            sync: s.sync,
        });
    }
    movie
        .tracks
        .iter()
        .filter_map(|t| {
            let tables = tracks.remove(&t.desc.track_id)?;
            Some(tables.into_table(t.desc.clone(), 0))
        })
        .collect()
}

/// What a recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The finished file.
    pub output: PathBuf,
    /// Complete fragments kept.
    pub fragments: usize,
    /// Samples kept per track ID.
    pub samples: Vec<(u32, usize)>,
    /// Bytes of a torn tail (and any index after the fragments) left out.
    pub dropped: u64,
    /// The file had been finished before; at most leftover fragments were neutralised.
    pub already_finished: bool,
}

fn apply(file: &mut File, patches: &[Patch]) -> std::io::Result<()> {
    for p in patches {
        file.seek(SeekFrom::Start(p.offset))?;
        file.write_all(&p.bytes)?;
        if p.bytes.len() > 4 {
            // The new moov is on disk before any fragment is neutralised.
            file.sync_data()?;
        }
    }
    file.sync_all()
}

/// Finishes the recording `input`: in place, or into `output` (a copy of what is kept,
/// then finished). Complete fragments are kept, a torn tail is dropped.
pub fn recover_file(input: &Path, output: Option<&Path>) -> Result<Report, RecoverError> {
    let mut source = File::open(input)?;
    let len = source.metadata()?.len();
    let scanned = match scan::scan(&mut source, len) {
        Ok(s) => s,
        Err(RecoverError::AlreadyFinished { moofs }) => {
            let target = output.unwrap_or(input);
            if output.is_some() {
                std::fs::copy(input, target)?;
            }
            let mut f = OpenOptions::new().write(true).open(target)?;
            apply(&mut f, &finishing_patches(Vec::new(), len, moofs)[1..])?;
            return Ok(Report {
                output: target.to_path_buf(),
                fragments: 0,
                samples: Vec::new(),
                dropped: 0,
                already_finished: true,
            });
        }
        Err(e) => return Err(e),
    };
    let tables = tables_from_fragments(&scanned.movie, &scanned.fragments);
    let moov = write_moov(&MovieDesc::progressive(scanned.movie.timescale), &tables);
    let neutralise =
        std::iter::once(scanned.moov_offset).chain(scanned.fragments.iter().map(|f| f.offset));
    let patches = finishing_patches(moov, scanned.kept, neutralise);
    let target = match output {
        Some(out) => {
            let mut dst = File::create(out)?;
            source.seek(SeekFrom::Start(0))?;
            std::io::copy(
                &mut std::io::Read::take(&mut source, scanned.kept),
                &mut dst,
            )?;
            out
        }
        None => input,
    };
    drop(source);
    let mut file = OpenOptions::new().write(true).open(target)?;
    file.set_len(scanned.kept)?;
    apply(&mut file, &patches)?;
    Ok(Report {
        output: target.to_path_buf(),
        fragments: scanned.fragments.len(),
        samples: tables
            .iter()
            .map(|t| (t.track.track_id, t.samples.len()))
            .collect(),
        dropped: len - scanned.kept,
        already_finished: false,
    })
}
