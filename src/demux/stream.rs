//! The incremental demuxer: consumes a byte stream box by box, whatever the buffer
//! boundaries, and yields movies and samples. Knows nothing of GStreamer: the bytes come
//! from a [`ByteSource`] whose payload type is the caller's (a `gst::Buffer` in the element).

use super::fragment::{MoofInfo, SampleRef, parse_moof};
use super::index::Index;
use super::interleave::Interleaver;
use super::movie::{Movie, parse_moov};
use super::protection::Pssh;
use crate::boxes::cenc::SampleAux;
use crate::boxes::reader::{BoxHeader, BoxReader, ReadError, fourcc_str};

/// Largest `moov` or `moof` the demuxer holds in memory before parsing it.
pub const MAX_META_BOX: u64 = 64 << 20;

/// Largest payload one `moof` may describe: it is held until complete.
pub const MAX_FRAGMENT_PAYLOAD: u64 = 1 << 30;

/// Bytes queued for the demuxer, front first.
pub trait ByteSource {
    /// A run of bytes taken out of the queue (the payload of one `moof`'s samples).
    type Region;
    /// What a sample's payload becomes (a sub-buffer, a `Vec<u8>`, ...).
    type Payload;
    /// Bytes queued.
    fn available(&self) -> usize;
    /// Copies the first `out.len()` queued bytes (never more than `available`).
    fn copy_to(&self, out: &mut [u8]);
    /// Drops the first `n` queued bytes.
    fn skip(&mut self, n: usize);
    /// Removes the first `n` queued bytes.
    fn take(&mut self, n: usize) -> Self::Region;
    /// The `size` bytes at `offset` of a region (within its bounds), without copying
    /// where the type allows.
    fn slice(region: &Self::Region, offset: usize, size: usize) -> Self::Payload;
}

/// A sample with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample<P> {
    pub info: SampleRef,
    pub payload: P,
    /// Which `moof` of the stream described it (0 for the first), as in
    /// [`Event::FragmentEnd`].
    pub moof: u64,
    /// Encrypted track: the sample's IV (empty with a constant IV) and subsample map.
    pub crypto: Option<SampleAux>,
}

/// What the stream yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<P> {
    /// A `moov`: the first one describes the tracks, later ones update them.
    Movie(Movie),
    Sample(Sample<P>),
    /// A video sample before the track's first keyframe, dropped (its bytes skipped).
    DroppedBeforeKeyframe(SampleRef),
    /// Every sample of the `moof` with this sequence number has been yielded; `moof`
    /// counts the stream's `moof`s from 0. In stream order.
    FragmentEnd {
        sequence: u32,
        moof: u64,
    },
    /// The track has no sample decoding in `start .. start + duration` (ns, on the
    /// timeline of its samples' timestamps): downstream need not wait for one.
    Gap {
        track_id: u32,
        start: u64,
        duration: u64,
    },
    /// After [`Demuxer::end`]: the track has nothing more.
    TrackEnd {
        track_id: u32,
    },
    /// A `pssh` box of a `moof`, before the samples of that `moof` (those of the
    /// `moov` are in [`Movie::pssh`]); `moof` is the index its samples carry (`None`:
    /// a `moof` without samples of the output tracks).
    Pssh {
        pssh: Pssh,
        moof: Option<u64>,
    },
    /// A top-level `emsg` (a timed event), where it stood in the stream.
    Emsg(crate::boxes::emsg::ParsedEmsg),
}

/// A stream the demuxer cannot continue, with the box and byte offset at fault.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DemuxError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("'moof' at byte {offset} comes before any 'moov': the init segment is missing")]
    NoMovie { offset: u64 },
    #[error("'{kind}' at byte {offset} claims {size} bytes, more than the {limit}-byte limit")]
    BoxTooLarge {
        kind: String,
        offset: u64,
        size: u64,
        limit: u64,
    },
    #[error("'moof' at byte {moof}: its 'mdat' never came ({why})")]
    MdatMissing { moof: u64, why: String },
    #[error(
        "'moof' at byte {moof}: track {track_id} sample at byte {offset} (+{size}) lies outside the 'mdat' at bytes {start}..{end}"
    )]
    OutsideMdat {
        moof: u64,
        track_id: u32,
        offset: u64,
        size: u32,
        start: u64,
        end: u64,
    },
    #[error(
        "'moof' at byte {moof}: track {track_id} sample at byte {offset} overlaps the sample before it"
    )]
    Overlap {
        moof: u64,
        track_id: u32,
        offset: u64,
    },
    #[error(
        "'moof' at byte {moof} describes {size} bytes of samples, more than the {limit}-byte limit"
    )]
    PayloadTooLarge { moof: u64, size: u64, limit: u64 },
    #[error("the stream ends inside '{kind}' at byte {offset}")]
    Truncated { kind: String, offset: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a box boundary.
    Header,
    /// Skipping the rest of a box; `None`: to the end of the stream.
    Skip(Option<u64>),
    /// Inside an `mdat` ending at this stream offset (`None`: at the end of the stream).
    Mdat(Option<u64>),
}

/// What reading at a box boundary achieved.
enum Step<P> {
    Yield(Event<P>),
    /// The box was consumed or entered; read on.
    Continue,
    NeedData,
}

/// The `moof` whose payload is being read.
struct Pending {
    moof: u64,
    sequence: u32,
    /// In `trun` order.
    samples: Vec<SampleRef>,
    /// The samples' encryption information, by [`SampleRef::aux`].
    aux: Vec<SampleAux>,
    /// Stream offsets of the first and after the last payload byte.
    start: u64,
    end: u64,
}

/// The incremental demuxer and its byte queue. Feed bytes to [`Demuxer::source_mut`],
/// then call [`Demuxer::next_event`] until it returns `Ok(None)`; at the end of the
/// stream (or after an error) call [`Demuxer::end`] and drain it the same way.
///
/// A fragment's samples become available once all of its payload has arrived; they
/// are yielded in decode-time order across tracks and across `moof`s, so downstream
/// queues see the tracks interleaved whatever the layout of the file (one `moof` per
/// track, long runs of one track in an `mdat`): see [`super::interleave`].
pub struct Demuxer<S: ByteSource> {
    src: S,
    /// Stream offset of the source's first queued byte.
    pos: u64,
    state: State,
    movie: Option<Movie>,
    pending: Option<Pending>,
    ready: Interleaver<S::Region, S::Payload>,
    /// [`Demuxer::end`] was called: no more bytes are read.
    ended: bool,
    scratch: Vec<u8>,
    /// The fragments read so far, in file order (push mode's seek index).
    seen: Index,
}

impl<S: ByteSource + Default> Default for Demuxer<S> {
    fn default() -> Self {
        Self::new(S::default())
    }
}

impl<S: ByteSource> Demuxer<S> {
    pub fn new(src: S) -> Self {
        Self {
            src,
            pos: 0,
            state: State::Header,
            movie: None,
            pending: None,
            ready: Interleaver::default(),
            ended: false,
            scratch: Vec::new(),
            seen: Index::default(),
        }
    }

    /// The byte queue, to push input into.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.src
    }

    /// The byte queue.
    pub fn source(&self) -> &S {
        &self.src
    }

    /// The movie of the last `moov`.
    pub fn movie(&self) -> Option<&Movie> {
        self.movie.as_ref()
    }

    /// Every fragment read so far, in file order: a `moof` past the last one known is
    /// added, so after seeks to known fragments the index stays the file's first
    /// fragments without a gap.
    pub fn seen(&self) -> &Index {
        &self.seen
    }

    /// Stream offset of the next byte to read.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Forgets queued bytes, a partly read box and the samples held after a
    /// discontinuity: the next bytes start a box at stream offset 0. The movie stays known.
    pub fn reset(&mut self, src: S) {
        self.reset_at(src, 0);
    }

    /// As [`Demuxer::reset`], but the next bytes start a box at stream offset `pos`
    /// (after a seek to a `moof`: its sample offsets stay those of the file).
    pub fn reset_at(&mut self, src: S, pos: u64) {
        self.src = src;
        self.pos = pos;
        self.state = State::Header;
        self.pending = None;
        self.ready.reset();
        self.ended = false;
    }

    /// No more bytes will be read (end of stream, or an error): [`Demuxer::next_event`]
    /// yields the samples held, then a [`Event::TrackEnd`] per track.
    pub fn end(&mut self) {
        self.ended = true;
        self.ready.end();
    }

    /// Payload bytes of complete fragments held until their samples leave.
    pub fn held_bytes(&self) -> u64 {
        self.ready.held_bytes()
    }

    /// The next event the queued bytes allow, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event<S::Payload>>, DemuxError> {
        loop {
            if let Some(ev) = self.ready.next(S::slice) {
                return Ok(Some(ev));
            }
            if self.ended {
                return Ok(None);
            }
            match self.state {
                State::Skip(remaining) => {
                    let available = self.src.available() as u64;
                    let n = remaining.map_or(available, |r| r.min(available));
                    self.src.skip(n as usize);
                    self.pos += n;
                    match remaining {
                        Some(r) if r == n => self.state = State::Header,
                        Some(r) => {
                            self.state = State::Skip(Some(r - n));
                            return Ok(None);
                        }
                        None => return Ok(None),
                    }
                }
                State::Mdat(end) => {
                    if !self.complete_pending() {
                        return Ok(None);
                    }
                    // Everything described has been read: the rest of the mdat is skipped.
                    self.state = State::Skip(end.map(|e| e - self.pos));
                }
                State::Header => match self.next_box()? {
                    Step::Yield(ev) => return Ok(Some(ev)),
                    Step::Continue => {}
                    Step::NeedData => return Ok(None),
                },
            }
        }
    }

    /// Checks that the stream ended where it may: at a box boundary, no samples missing.
    pub fn finish(&self) -> Result<(), DemuxError> {
        if let Some(p) = &self.pending {
            return Err(DemuxError::MdatMissing {
                moof: p.moof,
                why: format!(
                    "the stream ended with {} of its samples unread",
                    p.samples.len()
                ),
            });
        }
        match self.state {
            State::Header if self.src.available() > 0 => {
                let mut head = [0u8; 8];
                let n = self.src.available().min(8);
                self.src.copy_to(&mut head[..n]);
                Err(DemuxError::Truncated {
                    kind: fourcc_str(&[head[4], head[5], head[6], head[7]]),
                    offset: self.pos,
                })
            }
            State::Skip(Some(_)) | State::Mdat(Some(_)) => Err(DemuxError::Truncated {
                kind: if matches!(self.state, State::Mdat(_)) {
                    "mdat".into()
                } else {
                    "box".into()
                },
                offset: self.pos,
            }),
            _ => Ok(()),
        }
    }

    /// Reads the box at the current position once enough of it is queued.
    fn next_box(&mut self) -> Result<Step<S::Payload>, DemuxError> {
        let mut head = [0u8; 16];
        let n = self.src.available().min(16);
        self.src.copy_to(&mut head[..n]);
        let Some(header) = BoxHeader::parse(&head[..n], self.pos)? else {
            return Ok(Step::NeedData);
        };
        let offset = self.pos;
        let header_len = u64::from(header.header_len);
        match &header.kind {
            b"moov" | b"moof" => {
                let size = header.size.ok_or_else(|| DemuxError::Truncated {
                    kind: fourcc_str(&header.kind),
                    offset,
                })?;
                if size > MAX_META_BOX {
                    return Err(DemuxError::BoxTooLarge {
                        kind: fourcc_str(&header.kind),
                        offset,
                        size,
                        limit: MAX_META_BOX,
                    });
                }
                if &header.kind == b"moof" {
                    if let Some(p) = &self.pending {
                        return Err(DemuxError::MdatMissing {
                            moof: p.moof,
                            why: format!("another 'moof' follows at byte {offset}"),
                        });
                    }
                    if self.movie.is_none() {
                        return Err(DemuxError::NoMovie { offset });
                    }
                }
                if (self.src.available() as u64) < size {
                    return Ok(Step::NeedData);
                }
                self.scratch.clear();
                self.scratch.resize(size as usize, 0);
                self.src.copy_to(&mut self.scratch);
                self.src.skip(size as usize);
                self.pos += size;
                let body = &self.scratch[header.header_len.into()..];
                let reader = BoxReader::new(header.kind, offset, offset + header_len, body);
                if &header.kind == b"moov" {
                    let movie = parse_moov(&reader)?;
                    self.ready.set_movie(&movie);
                    self.movie = Some(movie.clone());
                    return Ok(Step::Yield(Event::Movie(movie)));
                }
                let movie = self.movie.as_ref().ok_or(DemuxError::NoMovie { offset })?;
                let mut info = parse_moof(&reader, offset, movie)?;
                if self.seen.fragments.last().is_none_or(|f| f.offset < offset) {
                    self.seen.push_moof(&info, movie);
                }
                let pssh = std::mem::take(&mut info.pssh);
                self.pending = pending(info)?;
                let moof = self.pending.as_ref().map(|_| self.ready.next_moof());
                for pssh in pssh {
                    self.ready.push_event(Event::Pssh { pssh, moof });
                }
                Ok(Step::Continue)
            }
            b"mdat" => {
                let end = header.size.map(|s| offset + s);
                self.src.skip(usize::from(header.header_len));
                self.pos += header_len;
                if let Some(p) = &self.pending {
                    check_inside(p, self.pos, end)?;
                    self.state = State::Mdat(end);
                } else {
                    self.state = State::Skip(end.map(|e| e - self.pos));
                }
                Ok(Step::Continue)
            }
            b"emsg" if header.size.is_some_and(|s| s <= MAX_META_BOX) => {
                let size = header.size.unwrap_or(0) as usize;
                if self.src.available() < size {
                    return Ok(Step::NeedData);
                }
                let mut bytes = vec![0u8; size];
                self.src.copy_to(&mut bytes);
                self.src.skip(size);
                self.pos += size as u64;
                // A malformed one is skipped like any unknown box.
                Ok(match crate::boxes::emsg::parse_emsg(&bytes) {
                    Some(e) => Step::Yield(Event::Emsg(e)),
                    None => Step::Continue,
                })
            }
            _ => {
                self.state = State::Skip(header.size);
                Ok(Step::Continue)
            }
        }
    }

    /// Once the whole payload of the pending `moof` is queued, hands it with its
    /// samples to the interleaver; false while bytes are missing.
    fn complete_pending(&mut self) -> bool {
        let Some(p) = &self.pending else {
            return true;
        };
        if ((self.src.available() as u64) + self.pos) < p.end {
            return false;
        }
        let Some(p) = self.pending.take() else {
            return true;
        };
        self.src.skip((p.start - self.pos) as usize);
        let region = self.src.take((p.end - p.start) as usize);
        self.pos = p.end;
        self.ready.push_moof(
            p.sequence,
            p.samples,
            p.aux,
            p.start,
            p.end - p.start,
            region,
        );
        true
    }
}

/// The samples of a `moof`, checked not to overlap, with the byte range they cover.
fn pending(info: MoofInfo) -> Result<Option<Pending>, DemuxError> {
    let samples = info.samples;
    if samples.is_empty() {
        return Ok(None);
    }
    let mut by_offset = samples.clone();
    by_offset.sort_by_key(|s| s.offset);
    for pair in by_offset.windows(2) {
        if pair[0].offset + u64::from(pair[0].size) > pair[1].offset {
            return Err(DemuxError::Overlap {
                moof: info.offset,
                track_id: pair[1].track_id,
                offset: pair[1].offset,
            });
        }
    }
    let start = by_offset[0].offset;
    let end = by_offset
        .iter()
        .map(|s| s.offset + u64::from(s.size))
        .max()
        .unwrap_or(start);
    if end - start > MAX_FRAGMENT_PAYLOAD {
        return Err(DemuxError::PayloadTooLarge {
            moof: info.offset,
            size: end - start,
            limit: MAX_FRAGMENT_PAYLOAD,
        });
    }
    Ok(Some(Pending {
        moof: info.offset,
        sequence: info.sequence,
        samples,
        aux: info.aux,
        start,
        end,
    }))
}

/// Every pending sample must lie inside the mdat whose payload starts at `start`.
fn check_inside(p: &Pending, start: u64, end: Option<u64>) -> Result<(), DemuxError> {
    for s in &p.samples {
        let sample_end = s.offset + u64::from(s.size);
        if s.offset < start || end.is_some_and(|e| sample_end > e) {
            return Err(DemuxError::OutsideMdat {
                moof: p.moof,
                track_id: s.track_id,
                offset: s.offset,
                size: s.size,
                start,
                end: end.unwrap_or(u64::MAX),
            });
        }
    }
    Ok(())
}
