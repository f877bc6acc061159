//! Timed events (DASH/CMAF `emsg`): the plain event model, where each event is written,
//! and the checks of the payloads the muxer accepts (ID3v2 tags, SCTE-35 splice info).
//! Knows nothing of GStreamer.

pub mod id3;
pub mod scte35;

use crate::boxes::BoxWriter;
use crate::boxes::emsg::{EmsgDesc, EmsgTime, UNKNOWN_DURATION, clean_string, write_emsg};

/// Scheme of timed ID3 metadata in `emsg` (AOM "Carriage of ID3 Timed Metadata in CMAF").
pub const ID3_SCHEME: &str = "https://aomedia.org/emsg/ID3";
/// Scheme of binary SCTE-35 splice info sections in `emsg` (SCTE 214-3).
pub const SCTE35_SCHEME: &str = "urn:scte:scte35:2013:bin";

/// Why an event's payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not an ID3v2 tag: {0}")]
    NotId3(&'static str),
    #[error("ID3v2 tag of {declared} bytes in a buffer of {actual}: truncated")]
    Id3Truncated { declared: usize, actual: usize },
    #[error("not a SCTE-35 splice_info_section: {0}")]
    NotScte35(&'static str),
    #[error("SCTE-35 section of {declared} bytes in a buffer of {actual}: truncated")]
    Scte35Truncated { declared: usize, actual: usize },
    #[error("SCTE-35 section CRC-32 is {found:#010x}, the bytes give {computed:#010x}")]
    Scte35Crc { found: u32, computed: u32 },
    #[error("event scheme_id_uri is empty")]
    NoScheme,
}

/// One timed event as the muxer receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub scheme_id_uri: String,
    pub value: String,
    /// Presentation time (signed running time, ns).
    pub time: i64,
    /// Duration in ns; `None` when unknown.
    pub duration: Option<u64>,
    pub id: u32,
    pub data: Vec<u8>,
}

/// Events waiting to be written, in time order.
///
/// An event goes before the `moof` of the chunk in which it starts: the first chunk
/// taken whose end lies after the event's time. An event whose chunk was already
/// written (it arrived late) goes with the next chunk, with its own time. An event is
/// one box, in one chunk: it is never split.
#[derive(Debug, Default, Clone)]
pub struct EventQueue {
    pending: Vec<Event>,
}

impl EventQueue {
    /// Queues an event, after those of the same time.
    pub fn push(&mut self, event: Event) {
        let at = self.pending.partition_point(|e| e.time <= event.time);
        self.pending.insert(at, event);
    }

    /// Events for a chunk whose presentation ends at `end` (running time, ns): those
    /// that start before it, late ones included, in time order.
    pub fn take_before(&mut self, end: i64) -> Vec<Event> {
        let n = self.pending.partition_point(|e| e.time < end);
        self.pending.drain(..n).collect()
    }

    /// Everything still queued (at EOS, for what no chunk took).
    pub fn take_all(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.pending)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// How running times map to the ticks of the `tfdt` timeline the events are written on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    pub timescale: u32,
    /// Running time (ns) of tick 0.
    pub zero: i64,
}

impl Timeline {
    /// Ticks of running time `ns`, rounded to the nearest, as the fragmenter rounds.
    pub fn ticks(&self, ns: i64) -> i128 {
        ns_to_ticks(i128::from(ns) - i128::from(self.zero), self.timescale)
    }
}

fn ns_to_ticks(ns: i128, timescale: u32) -> i128 {
    const NS: i128 = 1_000_000_000;
    let num = ns * i128::from(timescale);
    if num >= 0 {
        (num + NS / 2) / NS
    } else {
        -((-num + NS / 2) / NS)
    }
}

/// `emsg` version 1 (absolute times) or 0 (delays from the segment start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmsgVersion {
    V0,
    V1,
}

/// The `emsg` boxes of `events` for a chunk whose earliest presentation time is
/// `segment_start` (running time, ns). Returns the bytes and how many times had to be
/// clamped (before the timeline's start in version 1; before the segment start, or
/// beyond 32 bits, in version 0).
pub fn emsg_boxes(
    events: &[Event],
    timeline: Timeline,
    version: EmsgVersion,
    segment_start: i64,
) -> (Vec<u8>, usize) {
    let mut w = BoxWriter::with_capacity(events.iter().map(|e| 64 + e.data.len()).sum());
    let mut clamped = 0;
    for e in events {
        let at = timeline.ticks(e.time);
        let time = match version {
            EmsgVersion::V1 => {
                if at < 0 {
                    clamped += 1;
                }
                EmsgTime::Absolute(at.clamp(0, i128::from(u64::MAX)) as u64)
            }
            EmsgVersion::V0 => {
                let delta = at - timeline.ticks(segment_start);
                if !(0..=i128::from(u32::MAX)).contains(&delta) {
                    clamped += 1;
                }
                EmsgTime::Delta(delta.clamp(0, i128::from(u32::MAX)) as u32)
            }
        };
        let duration = e.duration.map_or(UNKNOWN_DURATION, |d| {
            let t = ns_to_ticks(i128::from(d), timeline.timescale);
            t.clamp(0, i128::from(UNKNOWN_DURATION - 1)) as u32
        });
        let (scheme, value) = (clean_string(&e.scheme_id_uri), clean_string(&e.value));
        write_emsg(
            &mut w,
            &EmsgDesc {
                scheme_id_uri: &scheme,
                value: &value,
                timescale: timeline.timescale,
                time,
                duration,
                id: e.id,
                message_data: &e.data,
            },
        );
    }
    (w.into_bytes(), clamped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn event(time: i64, id: u32) -> Event {
        Event {
            scheme_id_uri: ID3_SCHEME.into(),
            value: String::new(),
            time,
            duration: None,
            id,
            data: vec![id as u8],
        }
    }

    #[test]
    fn events_go_with_the_chunk_in_which_they_start() {
        let mut q = EventQueue::default();
        q.push(event(2500 * MS, 2));
        q.push(event(500 * MS, 0));
        q.push(event(2000 * MS, 1));
        // Chunk [0, 2 s): only the event at 0.5 s; one at exactly 2 s starts the next.
        let first: Vec<u32> = q.take_before(2000 * MS).iter().map(|e| e.id).collect();
        assert_eq!(first, vec![0]);
        let second: Vec<u32> = q.take_before(4000 * MS).iter().map(|e| e.id).collect();
        assert_eq!(second, vec![1, 2]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_late_event_goes_into_the_next_chunk_with_its_time() {
        let mut q = EventQueue::default();
        assert!(q.take_before(2000 * MS).is_empty());
        // Arrives after the chunk [0, 2 s) it belongs to was written.
        q.push(event(1000 * MS, 5));
        let next = q.take_before(4000 * MS);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].time, 1000 * MS);
    }

    #[test]
    fn same_time_events_keep_their_order() {
        let mut q = EventQueue::default();
        for id in 0..4 {
            q.push(event(100 * MS, id));
        }
        let ids: Vec<u32> = q.take_all().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![0, 1, 2, 3]);
    }

    #[test]
    fn times_are_ticks_of_the_track_timeline() {
        // Tick 0 at running time -66.7 ms (x264enc's first DTS), 90 kHz.
        let tl = Timeline {
            timescale: 90000,
            zero: -66_666_667,
        };
        let mut e = event(1000 * MS, 9);
        e.duration = Some(2000 * MS as u64);
        let (bytes, clamped) = emsg_boxes(&[e], tl, EmsgVersion::V1, 0);
        assert_eq!(clamped, 0);
        assert_eq!(&bytes[12..16], &90000u32.to_be_bytes());
        assert_eq!(&bytes[16..24], &96000u64.to_be_bytes());
        assert_eq!(&bytes[24..28], &180000u32.to_be_bytes());
        assert_eq!(&bytes[28..32], &9u32.to_be_bytes());
    }

    #[test]
    fn version_0_counts_from_the_segment_start() {
        let tl = Timeline {
            timescale: 1000,
            zero: 0,
        };
        let (bytes, clamped) = emsg_boxes(
            &[event(2250 * MS, 1), event(1000 * MS, 2)],
            tl,
            EmsgVersion::V0,
            2000 * MS,
        );
        // The late one (before the segment) is clamped to a delay of 0.
        assert_eq!(clamped, 1);
        let first_len = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let off = 12 + ID3_SCHEME.len() + 1 + 1;
        assert_eq!(&bytes[off..off + 4], &1000u32.to_be_bytes());
        assert_eq!(&bytes[off + 4..off + 8], &250u32.to_be_bytes());
        assert_eq!(&bytes[off + 8..off + 12], &UNKNOWN_DURATION.to_be_bytes());
        let second = &bytes[first_len..];
        assert_eq!(&second[off + 4..off + 8], &0u32.to_be_bytes());
    }
}
