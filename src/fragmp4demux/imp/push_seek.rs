//! Push mode seeking (as `qtdemux` does behind a source it cannot pull from): a TIME
//! seek becomes a flushing BYTES seek upstream to the `moof` of the fragment the seek
//! rule names, found in the fragments read so far. A seek those fragments cannot
//! decide (past what has been read, before the end was seen) first scans on: a BYTES
//! seek to the last fragment known, whose following fragments are read and indexed
//! without output until the seek is decided (or the stream ends); then the BYTES seek
//! to the fragment it names, from the streaming thread. Without any fragment known the
//! seek goes upstream unchanged (a source that cannot seek in time refuses it).

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::{AdapterSource, CAT, FragMp4Demux, State, lock};
use crate::demux::index::SeekTarget;

/// A BYTES seek sent upstream; its FLUSH_STOP applies it.
pub(super) struct PushSeek {
    /// The seek, in stream time.
    segment: gst::FormattedSegment<gst::ClockTime>,
    seqnum: gst::Seqnum,
    /// Where the bytes that follow start.
    offset: u64,
    /// Only scanning on to decide the seek: no segment, no output yet.
    scan: bool,
}

/// A seek being decided by reading on.
pub(super) struct Scan {
    segment: gst::FormattedSegment<gst::ClockTime>,
    seqnum: gst::Seqnum,
    target: u64,
}

impl FragMp4Demux {
    /// A seek on a src pad in push mode; `event` is forwarded when this element cannot
    /// do it.
    pub(super) fn push_seek(&self, seek: &gst::event::Seek, event: &gst::Event) -> bool {
        let (rate, flags, start_type, start, stop_type, stop) = seek.get();
        let forward = |why: &str| {
            gst::debug!(CAT, imp = self, "push mode: {why}: the seek goes upstream");
            self.sinkpad.push_event(event.clone())
        };
        let (Ok(start), Ok(stop)) = (
            Option::<gst::ClockTime>::try_from(start),
            Option::<gst::ClockTime>::try_from(stop),
        ) else {
            return forward("not a seek in time");
        };
        if rate <= 0.0 || !flags.contains(gst::SeekFlags::FLUSH) {
            return forward("only flushing forward seeks are translated");
        }
        let seqnum = seek.seqnum();
        let mut state = lock(&self.state);
        if state.push_seqnum == Some(seqnum) {
            // The same seek through another src pad: already done.
            return true;
        }
        let mut segment = state.segment.clone();
        if segment
            .do_seek(rate, flags, start_type, start, stop_type, stop)
            .is_none()
        {
            gst::debug!(
                CAT,
                imp = self,
                "refusing a seek that does not fit the segment"
            );
            return false;
        }
        let target = segment.position().unwrap_or(gst::ClockTime::ZERO);
        let index = state.demuxer.seen();
        let last_known = index.fragments.last().map(|f| f.offset);
        let (offset, scan) = match index.seek_known(target.nseconds(), state.seen_complete) {
            Some(SeekTarget::Fragment(i)) => (index.fragments[i].offset, false),
            Some(SeekTarget::End) => match self.upstream_size() {
                Some(size) => (size, false),
                None => {
                    drop(state);
                    return forward("past the end, and upstream has no size");
                }
            },
            None => match last_known {
                Some(offset) => (offset, true),
                None => {
                    drop(state);
                    return forward("no fragment has been read yet");
                }
            },
        };
        if scan {
            gst::debug!(
                CAT,
                imp = self,
                "push mode: a seek to {target}: reading on from byte {offset} to decide it"
            );
            state.scan = Some(Scan {
                segment: segment.clone(),
                seqnum,
                target: target.nseconds(),
            });
        } else {
            gst::debug!(
                CAT,
                imp = self,
                "push mode: seek to {target} restarts at byte {offset}"
            );
        }
        state.push_seek = Some(PushSeek {
            segment,
            seqnum,
            offset,
            scan,
        });
        state.push_seqnum = Some(seqnum);
        drop(state);
        self.send_bytes_seek(seqnum, offset)
    }

    /// A flushing BYTES seek upstream to `offset`; the pending seek is dropped if
    /// upstream refuses it.
    fn send_bytes_seek(&self, seqnum: gst::Seqnum, offset: u64) -> bool {
        let bytes = gst::event::Seek::builder(
            1.0,
            gst::SeekFlags::FLUSH,
            gst::SeekType::Set,
            gst::format::Bytes::from_u64(offset),
            gst::SeekType::None,
            gst::format::Bytes::NONE,
        )
        .seqnum(seqnum)
        .build();
        if self.sinkpad.push_event(bytes) {
            return true;
        }
        gst::debug!(CAT, imp = self, "upstream refused a seek to byte {offset}");
        let mut state = lock(&self.state);
        state.push_seek = None;
        state.push_seqnum = None;
        state.scan = None;
        false
    }

    /// While scanning: once the fragments read decide the seek (or, at the end of the
    /// stream, `complete`), the BYTES seek to its fragment is sent from another thread
    /// (not from inside the streaming thread's chain or EOS, behind a `queue`); until
    /// its FLUSH_STOP, what arrives is dropped.
    pub(super) fn finish_scan(&self, state: &mut State, complete: bool) {
        let Some(scan) = state.scan.as_ref() else {
            return;
        };
        let index = state.demuxer.seen();
        let offset = match index.seek_known(scan.target, complete) {
            Some(SeekTarget::Fragment(i)) => index.fragments[i].offset,
            Some(SeekTarget::End) => self.upstream_size().unwrap_or(u64::MAX),
            None => return,
        };
        let Some(scan) = state.scan.take() else {
            return;
        };
        gst::debug!(
            CAT,
            imp = self,
            "push mode: read on, a seek to {} restarts at byte {offset}",
            scan.target
        );
        let seqnum = scan.seqnum;
        state.push_seek = Some(PushSeek {
            segment: scan.segment,
            seqnum,
            offset,
            scan: false,
        });
        self.obj().call_async(move |obj| {
            if !obj.imp().send_bytes_seek(seqnum, offset) {
                gst::element_error!(
                    obj,
                    gst::StreamError::Demux,
                    (
                        "upstream refused the seek to byte {} after accepting one before",
                        offset
                    )
                );
            }
        });
    }

    /// Push mode: bytes arriving now precede a flush (a seek is on its way or being
    /// decided): they are not output.
    pub(super) fn dropping(state: &State) -> bool {
        state.scan.is_some() || state.push_seek.is_some()
    }

    /// Upstream's size in bytes, if it knows it.
    fn upstream_size(&self) -> Option<u64> {
        let mut q = gst::query::Duration::new(gst::Format::Bytes);
        if !self.sinkpad.peer_query(&mut q) {
            return None;
        }
        match q.result() {
            gst::GenericFormattedValue::Bytes(Some(b)) => Some(*b),
            _ => None,
        }
    }

    /// At FLUSH_STOP: the bytes after it start at the pending seek's offset, and each
    /// pad's new segment (returned, to push after the FLUSH_STOP) is the seek's.
    pub(super) fn apply_push_seek(&self, state: &mut State) -> Vec<(gst::Pad, gst::Event)> {
        let Some(seek) = state.push_seek.take() else {
            state.demuxer.reset(AdapterSource::default());
            return Vec::new();
        };
        state
            .demuxer
            .reset_at(AdapterSource::default(), seek.offset);
        if seek.scan {
            return Vec::new();
        }
        state.segment = seek.segment.clone();
        let movie_duration = state.movie_duration;
        state
            .pads
            .iter_mut()
            .map(|p| {
                p.past_stop = false;
                let seg = p.seek_segment(&seek.segment, movie_duration);
                p.stop = seg.stop();
                (
                    p.pad.clone(),
                    gst::event::Segment::builder(&seg)
                        .seqnum(seek.seqnum)
                        .build(),
                )
            })
            .collect()
    }
}
