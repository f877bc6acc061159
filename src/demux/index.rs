//! The fragments of a seekable file and the seek rule. A scan of the top-level boxes
//! (each `moof` read, payloads skipped) finds every fragment with the first
//! presentation time of each track in it; an `mfra` or `sidx` in the file is checked
//! against the scan and ignored, with a warning, where it disagrees.
//!
//! The seek rule is `qtdemux`'s for fragmented files: a seek to `t` restarts at the
//! last fragment whose first sample of each track presents at or before `t` (the
//! earliest such fragment over the tracks); the segment starts at `t`, whatever the
//! key-unit and snap flags (the fragments start with keyframes).

use super::fragment::{MoofInfo, parse_moof};
use super::interleave::ticks_to_ns;
use super::movie::{Movie, parse_moov};
use crate::boxes::reader::{BoxHeader, BoxReader, ReadError};

/// Largest `moov`, `moof`, `mfra` or `sidx` the scan reads.
pub const MAX_INDEX_BOX: u64 = super::stream::MAX_META_BOX;

/// Where one track starts and ends in a fragment, in stream time (ns: presentation
/// time minus the edit list's `media_time`, the time a seek names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackSpan {
    pub track_id: u32,
    /// Presentation time of the track's first sample in the fragment.
    pub first: i128,
    /// End of the latest-presenting sample of the track in the fragment.
    pub end: i128,
    /// The first sample in decode order (presentation ticks, for `tfra` checks).
    pub first_pts_ticks: i128,
    pub first_dts_ticks: u64,
}

/// One `moof` and the tracks it holds samples of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// File offset of the `moof`.
    pub offset: u64,
    pub tracks: Vec<TrackSpan>,
}

/// Every fragment of a file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    pub fragments: Vec<Fragment>,
    /// What disagreed between the file's own index and its fragments.
    pub warnings: Vec<String>,
}

/// Why a file could not be indexed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("cannot read {size} bytes at byte {offset} of the file")]
    Io { offset: u64, size: u64 },
    #[error("'{kind}' at byte {offset} claims {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        kind: String,
        offset: u64,
        size: u64,
        limit: u64,
    },
    #[error("the file has no 'moov' before its first 'moof'")]
    NoMovie,
}

/// Where a seek restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTarget {
    /// At the fragment with this index in [`Index::fragments`].
    Fragment(usize),
    /// At or past the end: nothing to output.
    End,
}

impl Index {
    /// Adds the fragment `info` describes (the samples of the tracks `movie` outputs).
    pub fn push_moof(&mut self, info: &MoofInfo, movie: &Movie) {
        let mut tracks: Vec<TrackSpan> = Vec::new();
        for s in &info.samples {
            let Some(t) = movie.track(s.track_id) else {
                continue;
            };
            let ts = t.desc.timescale;
            let edit = t.edit_media_time.map_or(0, |m| ticks_to_ns(m, ts));
            let pts = i128::from(s.dts) + i128::from(s.composition_offset);
            let pts_ns = |ticks: i128| {
                ticks_to_ns(u64::try_from(ticks.max(0)).unwrap_or(u64::MAX), ts) - edit
            };
            let first = pts_ns(pts);
            let end = pts_ns(pts + i128::from(s.duration));
            match tracks.iter_mut().find(|t| t.track_id == s.track_id) {
                Some(span) => {
                    span.first = span.first.min(first);
                    span.end = span.end.max(end);
                }
                None => tracks.push(TrackSpan {
                    track_id: s.track_id,
                    first,
                    end,
                    first_pts_ticks: pts,
                    first_dts_ticks: s.dts,
                }),
            }
        }
        if !tracks.is_empty() {
            self.fragments.push(Fragment {
                offset: info.offset,
                tracks,
            });
        }
    }

    /// End of the latest-presenting sample (ns of stream time), if any.
    pub fn end(&self) -> Option<u64> {
        self.fragments
            .iter()
            .flat_map(|f| f.tracks.iter().map(|t| t.end))
            .max()
            .map(|e| u64::try_from(e.max(0)).unwrap_or(0))
    }

    /// The track IDs of the fragments known, ascending, each once.
    fn track_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .fragments
            .iter()
            .flat_map(|f| f.tracks.iter().map(|t| t.track_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The fragment a seek to `target` (ns of stream time) restarts at: per track the
    /// last fragment whose first sample presents at or before `target`, the earliest
    /// of those over the tracks (the first fragment when `target` precedes a track).
    pub fn seek(&self, target: u64) -> SeekTarget {
        if self.end().is_none_or(|end| target >= end) {
            return SeekTarget::End;
        }
        let target = i128::from(target);
        let ids = self.track_ids();
        let at = ids
            .iter()
            .map(|id| {
                self.fragments
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| {
                        f.tracks
                            .iter()
                            .any(|t| t.track_id == *id && t.first <= target)
                    })
                    .map(|(i, _)| i)
                    .next_back()
                    .unwrap_or(0)
            })
            .min()
            .unwrap_or(0);
        SeekTarget::Fragment(at)
    }

    /// [`Index::seek`] where the fragments known are the file's first ones (more may
    /// follow unless `complete`): `None` when a fragment not yet known could be the
    /// answer. A track with a known fragment presenting after `target` has its answer;
    /// one without has at least its last known fragment; the seek takes the earliest.
    pub fn seek_known(&self, target: u64, complete: bool) -> Option<SeekTarget> {
        if complete {
            return Some(self.seek(target));
        }
        let t = i128::from(target);
        let ids = self.track_ids();
        let mut decided: Option<usize> = None;
        let mut open: Option<usize> = None;
        for id in ids {
            let has = |f: &Fragment, pred: &dyn Fn(i128) -> bool| {
                f.tracks.iter().any(|s| s.track_id == id && pred(s.first))
            };
            let at = self
                .fragments
                .iter()
                .rposition(|f| has(f, &|first| first <= t))
                .unwrap_or(0);
            let slot = if self.fragments.iter().any(|f| has(f, &|first| first > t)) {
                &mut decided
            } else {
                &mut open
            };
            *slot = Some(slot.map_or(at, |s| s.min(at)));
        }
        match (decided, open) {
            (Some(d), o) if o.is_none_or(|o| d <= o) => Some(SeekTarget::Fragment(d)),
            _ => None,
        }
    }

    fn is_moof(&self, offset: u64) -> Option<&Fragment> {
        self.fragments
            .binary_search_by_key(&offset, |f| f.offset)
            .ok()
            .map(|i| &self.fragments[i])
    }
}

/// Reads `size` bytes at a file offset; `None` when they cannot be read.
pub trait ReadAt {
    fn read_at(&mut self, offset: u64, size: usize) -> Option<Vec<u8>>;
}

impl ReadAt for &[u8] {
    fn read_at(&mut self, offset: u64, size: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(size)?;
        self.get(start..end).map(<[u8]>::to_vec)
    }
}

/// Scans the top-level boxes of a file of `file_size` bytes: the `moov`, every `moof`
/// (payloads skipped), and `mfra`/`sidx`, which are checked against the fragments.
/// A box cut by the end of the file ends the scan.
pub fn scan(file_size: u64, src: &mut impl ReadAt) -> Result<(Movie, Index), IndexError> {
    let mut movie: Option<Movie> = None;
    let mut index = Index::default();
    let mut tfras: Vec<Tfra> = Vec::new();
    let mut sidxs: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut offset = 0u64;
    while offset + 8 <= file_size {
        let n = (file_size - offset).min(16) as usize;
        let head = src
            .read_at(offset, n)
            .ok_or(IndexError::Io { offset, size: 16 })?;
        let Some(header) = BoxHeader::parse(&head, offset)? else {
            break;
        };
        let Some(size) = header.size else {
            break; // to the end of the file: an mdat
        };
        if size < u64::from(header.header_len) || offset + size > file_size {
            break;
        }
        if matches!(&header.kind, b"moov" | b"moof" | b"mfra" | b"sidx") {
            if size > MAX_INDEX_BOX {
                return Err(IndexError::TooLarge {
                    kind: crate::boxes::reader::fourcc_str(&header.kind),
                    offset,
                    size,
                    limit: MAX_INDEX_BOX,
                });
            }
            let bytes = src
                .read_at(offset, size as usize)
                .ok_or(IndexError::Io { offset, size })?;
            let hl = usize::from(header.header_len);
            let reader = BoxReader::new(
                header.kind,
                offset,
                offset + u64::from(header.header_len),
                &bytes[hl..],
            );
            match &header.kind {
                b"moov" => movie = Some(parse_moov(&reader)?),
                b"moof" => {
                    let m = movie.as_ref().ok_or(IndexError::NoMovie)?;
                    index.push_moof(&parse_moof(&reader, offset, m)?, m);
                }
                b"mfra" => tfras.extend(parse_mfra(&reader)?),
                _ => sidxs.push((offset, parse_sidx(reader, offset + size)?)),
            }
        }
        offset += size;
    }
    let movie = movie.ok_or(IndexError::NoMovie)?;
    check_mfra(&mut index, &tfras);
    check_sidx(&mut index, &sidxs);
    Ok((movie, index))
}

/// A `tfra`: track ID and its `(time, moof_offset)` entries.
type Tfra = (u64, Vec<(u64, u64)>);

/// Each `tfra` of an `mfra`.
fn parse_mfra(mfra: &BoxReader) -> Result<Vec<Tfra>, ReadError> {
    let mut out = Vec::new();
    for mut tfra in mfra.clone().children()? {
        if &tfra.kind() != b"tfra" {
            continue;
        }
        let (version, _) = tfra.full_header()?;
        let track_id = tfra.u32()?;
        let lengths = tfra.u32()?;
        let count = tfra.u32()? as usize;
        let entry_len = if version == 1 { 16 } else { 8 }
            + ((lengths >> 4) & 3) as usize
            + ((lengths >> 2) & 3) as usize
            + (lengths & 3) as usize
            + 3;
        if count.saturating_mul(entry_len) > tfra.remaining() {
            return Err(tfra.error(format!("{count} entries do not fit")));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let time = tfra.u32_or_u64(version)?;
            let moof = tfra.u32_or_u64(version)?;
            tfra.skip(entry_len - if version == 1 { 16 } else { 8 })?;
            entries.push((time, moof));
        }
        out.push((u64::from(track_id), entries));
    }
    Ok(out)
}

/// The file offsets of the boxes a `sidx` ending at `end` references.
fn parse_sidx(mut sidx: BoxReader, end: u64) -> Result<Vec<u64>, ReadError> {
    let (version, _) = sidx.full_header()?;
    sidx.u32()?; // reference_ID
    sidx.u32()?; // timescale
    sidx.u32_or_u64(version)?; // earliest_presentation_time
    let first_offset = sidx.u32_or_u64(version)?;
    sidx.u16()?;
    let count = usize::from(sidx.u16()?);
    if count * 12 > sidx.remaining() {
        return Err(sidx.error(format!("{count} references do not fit")));
    }
    let mut at = end.saturating_add(first_offset);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let r = sidx.u32()?;
        sidx.u32()?; // subsegment_duration
        sidx.u32()?; // SAP
        if r & 0x8000_0000 == 0 {
            out.push(at);
        }
        at = at.saturating_add(u64::from(r & 0x7fff_ffff));
    }
    Ok(out)
}

/// Each `tfra` entry must name a fragment holding the track, at the decode or
/// presentation time of the track's first sample there.
fn check_mfra(index: &mut Index, tfras: &[Tfra]) {
    for (track_id, entries) in tfras {
        for (time, moof) in entries {
            let ok = index.is_moof(*moof).is_some_and(|f| {
                f.tracks.iter().any(|t| {
                    u64::from(t.track_id) == *track_id
                        && (i128::from(*time) == t.first_pts_ticks || *time == t.first_dts_ticks)
                })
            });
            if !ok {
                index.warnings.push(format!(
                    "'mfra' disagrees with the fragments (track {track_id}: no fragment at byte {moof} starting at time {time}): ignored, the fragments were found by a scan"
                ));
                return;
            }
        }
    }
}

/// Each media reference of a `sidx` must start at a `moof` (or a nested `sidx`/`styp`).
fn check_sidx(index: &mut Index, sidxs: &[(u64, Vec<u64>)]) {
    for (at, refs) in sidxs {
        if let Some(bad) = refs
            .iter()
            .find(|r| index.is_moof(**r).is_none() && !sidxs.iter().any(|(s, _)| s == *r))
        {
            index.warnings.push(format!(
                "'sidx' at byte {at} disagrees with the fragments (a reference at byte {bad} is no 'moof'): ignored, the fragments were found by a scan"
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(track_id: u32, first: i128, end: i128) -> TrackSpan {
        TrackSpan {
            track_id,
            first,
            end,
            first_pts_ticks: 0,
            first_dts_ticks: 0,
        }
    }

    /// Two tracks, fragments of 1 s; video presents 66 ms late, audio 88 ms.
    fn index() -> Index {
        Index {
            fragments: (0..5)
                .map(|i| Fragment {
                    offset: 1000 * (i + 1),
                    tracks: vec![
                        span(1, i as i128 * 1_000 + 66, (i as i128 + 1) * 1_000 + 66),
                        span(2, i as i128 * 1_000 + 88, (i as i128 + 1) * 1_000 + 80),
                    ],
                })
                .collect(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_seek_restarts_at_the_last_fragment_presenting_before_it() {
        let i = index();
        assert_eq!(i.seek(0), SeekTarget::Fragment(0));
        assert_eq!(i.seek(2_000), SeekTarget::Fragment(1));
        assert_eq!(i.seek(2_066), SeekTarget::Fragment(1)); // audio starts at 2088
        assert_eq!(i.seek(2_088), SeekTarget::Fragment(2));
        assert_eq!(i.seek(2_300), SeekTarget::Fragment(2));
        assert_eq!(i.seek(4_999), SeekTarget::Fragment(4));
        assert_eq!(i.seek(5_079), SeekTarget::Fragment(4));
        assert_eq!(i.seek(5_080), SeekTarget::End);
        assert_eq!(i.seek(u64::MAX), SeekTarget::End);
        assert_eq!(i.end(), Some(5_080));
        assert_eq!(Index::default().seek(0), SeekTarget::End);
    }

    #[test]
    fn a_track_missing_from_later_fragments_holds_the_seek_back() {
        let mut i = index();
        for f in &mut i.fragments[2..] {
            f.tracks.retain(|t| t.track_id == 1);
        }
        assert_eq!(i.seek(3_500), SeekTarget::Fragment(1));
    }

    #[test]
    fn the_first_fragments_answer_the_seeks_they_decide() {
        // The first three fragments known, more may follow.
        let mut i = index();
        i.fragments.truncate(3);
        assert_eq!(i.seek_known(0, false), Some(SeekTarget::Fragment(0)));
        // Audio's fragment 2 starts at 2088: the answer, whatever video says.
        assert_eq!(i.seek_known(2_087, false), Some(SeekTarget::Fragment(1)));
        assert_eq!(i.seek_known(2_087, false), Some(i.seek(2_087)));
        // Past every track's last known start: a later fragment could be it.
        assert_eq!(i.seek_known(2_088, false), None);
        assert_eq!(i.seek_known(2_500, false), None);
        // The whole file read: the answer of the full index, the end included.
        assert_eq!(i.seek_known(2_500, true), Some(SeekTarget::Fragment(2)));
        assert_eq!(i.seek_known(9_000, true), Some(SeekTarget::End));
        assert_eq!(Index::default().seek_known(0, false), None);
    }

    #[test]
    fn an_index_pointing_elsewhere_is_ignored_with_a_warning() {
        let mut i = index();
        check_mfra(&mut i, &[(1, vec![(0, 1000), (0, 2000)])]);
        assert!(i.warnings.is_empty(), "{:?}", i.warnings);
        check_mfra(&mut i, &[(1, vec![(0, 1000), (0, 2500)])]);
        assert_eq!(i.warnings.len(), 1);
        assert!(i.warnings[0].contains("byte 2500"), "{:?}", i.warnings);
        let mut i = index();
        check_sidx(&mut i, &[(10, vec![1000, 2000, 3000])]);
        assert!(i.warnings.is_empty());
        check_sidx(&mut i, &[(10, vec![1000, 2001])]);
        assert_eq!(i.warnings.len(), 1);
    }

    #[test]
    fn reads_past_the_end_of_a_slice_fail() {
        let data = [1u8, 2, 3];
        let mut src: &[u8] = &data;
        assert_eq!(src.read_at(1, 2), Some(vec![2, 3]));
        assert_eq!(src.read_at(2, 2), None);
        assert_eq!(src.read_at(u64::MAX, 2), None);
        assert!(matches!(scan(3, &mut src), Err(IndexError::NoMovie)));
    }
}
