//! What leaves a src pad: sample buffers with exact timestamps, or (passthrough) a
//! single-track CMAF stream rewritten from the input fragments.

use gst::prelude::*;

use crate::boxes::cenc::SampleAux;
use crate::boxes::fragment::write_chunk_header_with;
use crate::boxes::{ChunkError, MovieDesc, SampleDesc, TrafDesc, write_init};
use crate::demux::{Pssh, SampleRef, Track, TrackStats};

/// Converts track ticks to a clock time without drift (each time from absolute ticks).
pub(super) fn ticks_to_time(ticks: u64, timescale: u32) -> gst::ClockTime {
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(timescale.max(1));
    gst::ClockTime::from_nseconds(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// One src pad and the track it carries.
pub(super) struct OutPad {
    pub track_id: u32,
    pub pad: gst::Pad,
    pub track: Track,
    pub stats: TrackStats,
    /// The next buffer follows a discontinuity.
    pub discont: bool,
    /// Passthrough: samples not yet forwarded, with the index of their `moof` and
    /// their encryption information.
    pub fragment: Vec<(u64, SampleRef, gst::Buffer, Option<SampleAux>)>,
    /// EOS was pushed (the track ended before the stream).
    pub eos: bool,
    /// End of the current segment in this pad's time (a sample decoding at or after it
    /// is not output).
    pub stop: Option<gst::ClockTime>,
    /// The track has reached the segment stop.
    pub past_stop: bool,
    /// The caps last pushed (not in passthrough).
    pub caps: Option<gst::Caps>,
    /// Passthrough: the `pssh` boxes of input `moof`s (by index) not yet forwarded.
    pub moof_pssh: Vec<(u64, Pssh)>,
}

impl OutPad {
    pub fn new(pad: gst::Pad, track: Track) -> Self {
        Self {
            track_id: track.desc.track_id,
            pad,
            track,
            stats: TrackStats::default(),
            discont: true,
            fragment: Vec::new(),
            eos: false,
            stop: None,
            past_stop: false,
            caps: None,
            moof_pssh: Vec::new(),
        }
    }

    fn timescale(&self) -> u32 {
        self.track.desc.timescale
    }

    /// The segment of this pad: an edit list's `media_time` becomes the segment start,
    /// so running time 0 is the first presented instant (as `qtdemux` does).
    pub fn segment(&self, passthrough: bool) -> gst::FormattedSegment<gst::ClockTime> {
        let mut segment = gst::FormattedSegment::<gst::ClockTime>::new();
        if !passthrough && let Some(media_time) = self.track.edit_media_time {
            segment.set_start(ticks_to_time(media_time, self.timescale()));
        }
        segment
    }

    /// This pad's segment after a seek to `seek` (stream time): the edit list's
    /// `media_time` shifts start and stop, an open stop becomes the movie's duration
    /// (`movie_duration`: ticks, timescale) in track ticks, as `qtdemux` does.
    pub fn seek_segment(
        &self,
        seek: &gst::FormattedSegment<gst::ClockTime>,
        movie_duration: Option<(u64, u32)>,
    ) -> gst::FormattedSegment<gst::ClockTime> {
        let ts = self.timescale();
        let edit = ticks_to_time(self.track.edit_media_time.unwrap_or(0), ts);
        let mut segment = seek.clone();
        segment.set_base(gst::ClockTime::ZERO);
        let start = seek.start().unwrap_or(gst::ClockTime::ZERO);
        segment.set_start(start + edit);
        segment.set_position(start + edit);
        segment.set_time(seek.time().unwrap_or(start));
        let stop = seek.stop().map(|s| s + edit).or_else(|| {
            // Through nanoseconds, both steps rounded down, as qtdemux does.
            movie_duration.map(|(d, mts)| {
                let ns = ticks_to_time(d, mts).nseconds();
                let ticks = u128::from(ns) * u128::from(ts) / 1_000_000_000;
                ticks_to_time(u64::try_from(ticks).unwrap_or(u64::MAX), ts)
            })
        });
        segment.set_stop(stop);
        segment
    }

    /// Timestamps and flags a sample's payload buffer.
    pub fn sample_buffer(&mut self, s: &SampleRef, mut buffer: gst::Buffer) -> gst::Buffer {
        let ts = self.timescale();
        let pts = u64::try_from(i128::from(s.dts) + i128::from(s.composition_offset)).unwrap_or(0);
        let b = buffer.make_mut();
        b.set_dts(ticks_to_time(s.dts, ts));
        b.set_pts(ticks_to_time(pts, ts));
        b.set_duration(ticks_to_time(pts + u64::from(s.duration), ts) - ticks_to_time(pts, ts));
        let mut flags = gst::BufferFlags::empty();
        if self.track.desc.is_video() && !s.sync {
            flags |= gst::BufferFlags::DELTA_UNIT;
        }
        if std::mem::take(&mut self.discont) {
            flags |= gst::BufferFlags::DISCONT;
        }
        b.set_flags(flags);
        buffer
    }

    /// Passthrough: the init segment of this track alone (an encrypted track's entry
    /// keeps its `sinf`; the `moov`'s `pssh` boxes are kept).
    pub fn init_segment(&self, movie_timescale: u32, pssh: &[Pssh]) -> gst::Buffer {
        let mut movie = MovieDesc::fragmented(movie_timescale);
        movie.pssh = pssh.iter().map(|p| p.data.clone()).collect();
        let bytes = write_init(&movie, std::slice::from_ref(&self.track.desc));
        let mut b = gst::Buffer::from_mut_slice(bytes);
        b.get_mut()
            .expect("new buffer")
            .set_flags(gst::BufferFlags::HEADER);
        b
    }

    /// Passthrough: the collected samples of `moof` (the oldest) as one `moof` + `mdat`
    /// of this track, payloads passed through as the input's sub-buffers; an encrypted
    /// track's `senc`, `saiz` and `saio` are written anew for the new `moof`, with the
    /// input `moof`'s `pssh` boxes.
    pub fn take_fragment(
        &mut self,
        sequence: u32,
        moof: u64,
    ) -> Result<Option<gst::BufferList>, ChunkError> {
        let n = self.fragment.partition_point(|(m, ..)| *m <= moof);
        let mut aux = Vec::new();
        let samples: Vec<(SampleRef, gst::Buffer)> = self
            .fragment
            .drain(..n)
            .filter(|(m, ..)| *m == moof)
            .map(|(_, s, b, a)| {
                aux.push(a.unwrap_or_default());
                (s, b)
            })
            .collect();
        let n = self.moof_pssh.partition_point(|(m, _)| *m <= moof);
        let pssh: Vec<Vec<u8>> = self
            .moof_pssh
            .drain(..n)
            .filter(|(m, _)| *m == moof)
            .map(|(_, p)| p.data)
            .collect();
        let Some((first, _)) = samples.first() else {
            return Ok(None);
        };
        let descs: Vec<SampleDesc> = samples
            .iter()
            .map(|(s, _)| SampleDesc {
                duration: s.duration,
                size: s.size,
                sync: s.sync,
                composition_offset: s.composition_offset.clamp(i32::MIN.into(), i32::MAX.into())
                    as i32,
            })
            .collect();
        let protected = self.track.protection.is_some().then_some(&aux[..]);
        let header = write_chunk_header_with(
            sequence,
            &[TrafDesc {
                track_id: self.track_id,
                base_decode_time: first.dts,
                samples: &descs,
            }],
            &[protected],
            &pssh,
        )?;
        let ts = self.timescale();
        let start = first.dts;
        let end = samples
            .last()
            .map_or(start, |(s, _)| s.dts + u64::from(s.duration));
        let pts = samples
            .iter()
            .map(|(s, _)| {
                u64::try_from(i128::from(s.dts) + i128::from(s.composition_offset)).unwrap_or(0)
            })
            .min()
            .unwrap_or(start);
        let mut list = gst::BufferList::new_sized(samples.len() + 1);
        let list_mut = list.get_mut().expect("new list");
        let mut head = gst::Buffer::from_mut_slice(header);
        {
            let h = head.get_mut().expect("new buffer");
            h.set_dts(ticks_to_time(start, ts));
            h.set_pts(ticks_to_time(pts, ts));
            h.set_duration(ticks_to_time(end, ts) - ticks_to_time(start, ts));
            let mut flags = gst::BufferFlags::empty();
            if !first.sync {
                flags |= gst::BufferFlags::DELTA_UNIT;
            }
            if std::mem::take(&mut self.discont) {
                flags |= gst::BufferFlags::DISCONT;
            }
            h.set_flags(flags);
        }
        list_mut.add(head);
        let last = samples.len() - 1;
        for (i, (_, mut payload)) in samples.into_iter().enumerate() {
            let p = payload.make_mut();
            let mut flags = gst::BufferFlags::DELTA_UNIT;
            if i == last {
                flags |= gst::BufferFlags::MARKER;
            }
            p.set_flags(flags);
            list_mut.add(payload);
        }
        Ok(Some(list))
    }

    /// The statistics of this track as a structure (times in nanoseconds).
    pub fn stats_structure(&self) -> gst::Structure {
        let ts = self.timescale();
        let time = |t: Option<u64>| t.map_or(0, |t| ticks_to_time(t, ts).nseconds());
        gst::Structure::builder("fragmp4demux-track")
            .field("track-id", self.track_id)
            .field("pad", self.pad.name())
            .field("samples", self.stats.samples)
            .field("keyframes", self.stats.keyframes)
            .field("fragments", self.stats.fragments)
            .field("bytes", self.stats.bytes)
            .field("dropped", self.stats.dropped)
            .field("bitrate", self.stats.bitrate(ts))
            .field("last-span", time(self.stats.last_span))
            .field("min-span", time(self.stats.min_span))
            .field("max-span", time(self.stats.max_span))
            .build()
    }
}
