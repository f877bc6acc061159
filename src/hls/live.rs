//! A live (Low-Latency) HLS presentation: the muxer's chunks become parts, published
//! into the HTTP origin the moment they are complete, and optionally written as files.
//!
//! Each chunk's facts (its `fragmp4mux-fragment` message) complete a part: a chunk
//! starting a fragment starts a segment, and the one before it is complete. Parts last
//! from one chunk's start to its cutting track's end (`reference-end`), so the parts of
//! a segment tile it and its `EXTINF` is their sum.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::ll_playlist::{Hint, LlPlaylist, Part, Report, Segment};
use super::writer::format_index;
use crate::origin::{Origin, Rendition};

/// Segments whose part objects stay downloadable after they were dropped from the
/// playlist (at least three target durations, RFC 8216bis 6.2.2).
const PARTS_KEPT: usize = 8;

/// Where the presentation goes.
#[derive(Debug, Clone)]
pub struct LiveLayout {
    /// Segment name pattern (`%05d` for the index) as served and, with `files`, as
    /// written next to the playlist.
    pub segment: String,
    pub init: String,
    pub playlist: String,
    /// Multivariant playlist name (served, and written with `files`).
    pub multivariant: Option<String>,
    /// Paths on disk (segment pattern, init pattern, playlist, multivariant), or none.
    pub files: Option<Files>,
    pub target_duration: u32,
    /// `part-duration` in ns; 0: whole segments only.
    pub part_ns: u64,
    pub byteranges: bool,
    /// Segments listed (0: all).
    pub playlist_length: u32,
    /// `EXT-X-KEY` attributes when the segments are encrypted.
    pub key: Option<String>,
}

/// Paths of the files written beside the served objects.
#[derive(Debug, Clone)]
pub struct Files {
    pub segment: String,
    pub init: String,
    pub playlist: String,
    pub multivariant: Option<String>,
}

/// The origin rendition this presentation is served as.
pub struct Served {
    pub origin: Arc<Origin>,
    pub rendition: Arc<Rendition>,
    pub prefix: String,
}

impl Served {
    /// Where a name of this rendition is on the server, as an absolute path.
    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            format!("/{name}")
        } else {
            format!("/{}/{name}", self.prefix)
        }
    }
}

/// Writes a file under a temporary name, then renames it: readers never see half of it.
fn write_atomically(path: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

fn us(ns: u64) -> u64 {
    (ns + 500) / 1000
}

/// Facts about one chunk (from the muxer's message), in ns on the output timeline.
#[derive(Debug, Clone, Copy)]
pub struct ChunkFacts {
    pub keyframe_start: bool,
    pub earliest: Option<u64>,
    pub reference_end: Option<u64>,
}

/// The live presentation.
pub struct LiveWriter {
    layout: LiveLayout,
    served: Option<Served>,
    playlist: LlPlaylist,
    /// Bytes of the chunk being received.
    pending: BytesMut,
    init_index: u32,
    segment_index: u32,
    map: Option<String>,
    discontinuity_next: bool,
    /// Name, bytes so far and path on disk of the segment being written.
    segment: Option<(String, BytesMut)>,
    /// End of the last part (µs), where the next part starts.
    boundary_us: Option<u64>,
    hinted: Option<String>,
    /// (segment, part names) whose objects are still served.
    part_objects: VecDeque<Vec<String>>,
    /// Segments that left the window, still served for a while.
    gone: VecDeque<String>,
    /// (running time ns, UTC ms) sampled once when playing started.
    clock: Option<(u64, i64)>,
    codecs: String,
    resolution: Option<(u32, u32)>,
    bytes: u64,
    media_us: u64,
}

impl LiveWriter {
    pub fn new(layout: LiveLayout, served: Option<Served>) -> Self {
        let part_target =
            (layout.part_ns > 0).then(|| super::parts::part_target_us(layout.part_ns, None));
        Self {
            playlist: LlPlaylist::new(
                layout.target_duration,
                part_target,
                layout.playlist_length as usize,
            )
            .with_key(layout.key.clone()),
            layout,
            served,
            pending: BytesMut::new(),
            init_index: 0,
            segment_index: 0,
            map: None,
            discontinuity_next: false,
            segment: None,
            boundary_us: None,
            hinted: None,
            part_objects: VecDeque::new(),
            gone: VecDeque::new(),
            clock: None,
            codecs: String::new(),
            resolution: None,
            bytes: 0,
            media_us: 0,
        }
    }

    /// The frame length of the cutting track, once the caps tell it: fixes `PART-TARGET`
    /// before the first playlist.
    pub fn set_frame(&mut self, frame_ns: Option<u64>) {
        if self.layout.part_ns > 0 && self.segment.is_none() && self.playlist.current().is_none() {
            self.playlist.part_target_us =
                Some(super::parts::part_target_us(self.layout.part_ns, frame_ns));
        }
    }

    /// Maps running times to UTC (`EXT-X-PROGRAM-DATE-TIME`) from one sampled pair.
    pub fn set_clock(&mut self, running_ns: u64, utc_ms: i64) {
        if self.clock.is_none() {
            self.clock = Some((running_ns, utc_ms));
        }
    }

    pub fn set_stream_info(&mut self, codecs: &str, resolution: Option<(u32, u32)>) {
        self.codecs = codecs.to_string();
        self.resolution = resolution;
    }

    fn date_time(&self, ns: u64) -> Option<i64> {
        let (at, utc) = self.clock?;
        Some(utc + (ns as i64 - at as i64).div_euclid(1_000_000))
    }

    /// An init segment.
    pub fn init(&mut self, bytes: Bytes) -> io::Result<()> {
        let name = format_index(&self.layout.init, self.init_index);
        if let Some(f) = &self.layout.files {
            write_atomically(&format_index(&f.init, self.init_index), &bytes)?;
        }
        self.init_index += 1;
        if let Some(s) = &self.served {
            s.rendition.put(&name, bytes);
        }
        if self.map.is_some() {
            self.discontinuity_next = true;
        }
        self.map = Some(name);
        Ok(())
    }

    /// Bytes of the chunk being received.
    pub fn append(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The chunk received is complete: a part (and maybe a new segment) is published.
    pub fn chunk(&mut self, facts: ChunkFacts) -> io::Result<()> {
        let bytes = std::mem::take(&mut self.pending).freeze();
        let start_ns = facts.earliest.unwrap_or(0);
        if facts.keyframe_start || self.segment.is_none() {
            self.close_segment()?;
            self.open_segment(start_ns);
        }
        let start_us = self.boundary_us.unwrap_or_else(|| us(start_ns));
        let end_us = facts.reference_end.map_or(start_us, us).max(start_us);
        self.boundary_us = Some(end_us);
        let (seg_name, seg_bytes) = self
            .segment
            .as_mut()
            .ok_or_else(|| io::Error::other("no segment"))?;
        let offset = seg_bytes.len() as u64;
        seg_bytes.extend_from_slice(&bytes);
        let seg_name = seg_name.clone();
        let current = self
            .playlist
            .current_mut()
            .ok_or_else(|| io::Error::other("no segment"))?;
        let k = current.parts.len();
        let part_name = part_name(&seg_name, k);
        if self.hinted.as_deref() == Some(part_name.as_str()) {
            // The hint came true: its object is this part.
            self.hinted = None;
        }
        let byterange = self
            .layout
            .byteranges
            .then_some((bytes.len() as u64, offset));
        current.push_part(Part {
            duration_us: end_us - start_us,
            independent: facts.keyframe_start,
            uri: if byterange.is_some() {
                seg_name.clone()
            } else {
                part_name.clone()
            },
            byterange,
        });
        self.bytes += bytes.len() as u64;
        let parts = self.layout.part_ns > 0;
        if parts && !self.layout.byteranges {
            if let Some(f) = &self.layout.files {
                let dir = Path::new(&f.playlist).parent().unwrap_or(Path::new(""));
                let path = dir.join(&part_name);
                write_atomically(&path.to_string_lossy(), &bytes)?;
            }
            if let Some(s) = &self.served {
                s.rendition.put(&part_name, bytes.clone());
            }
            if let Some(last) = self.part_objects.back_mut() {
                last.push(part_name.clone());
            }
        }
        if let Some(s) = &self.served {
            s.rendition.append(&seg_name, bytes);
        }
        if parts {
            self.hint(&seg_name, k + 1, offset);
        }
        self.publish()
    }

    /// Announces the next part (`EXT-X-PRELOAD-HINT`); its request is held until it is
    /// complete. A segment about as long as the target most likely ends here.
    fn hint(&mut self, seg_name: &str, next: usize, offset_before: u64) {
        let Some(current) = self.playlist.current() else {
            return;
        };
        let part_us = self.playlist.part_target_us.unwrap_or(0);
        let target_us = u64::from(self.layout.target_duration) * 1_000_000;
        let segment_ends = current.duration_us + part_us / 2 >= target_us;
        let seg_len = offset_before
            + current
                .parts
                .last()
                .and_then(|p| p.byterange)
                .map_or(0, |(l, _)| l);
        let (uri, start) = if segment_ends {
            let next_seg = format_index(&self.layout.segment, self.segment_index);
            if self.layout.byteranges {
                (next_seg, Some(0))
            } else {
                (part_name(&next_seg, 0), None)
            }
        } else if self.layout.byteranges {
            (seg_name.to_string(), Some(seg_len))
        } else {
            (part_name(seg_name, next), None)
        };
        if let Some(s) = &self.served {
            if let Some(old) = self.hinted.take()
                && old != uri
                && !self.layout.byteranges
            {
                // Never came (the segment went on, or ended early): no more waiting.
                s.rendition.remove(&old);
            }
            s.rendition.begin(&uri);
        }
        self.hinted = Some(uri.clone());
        self.playlist.hint = Some(Hint {
            uri,
            byterange_start: start,
        });
    }

    fn open_segment(&mut self, start_ns: u64) {
        let name = format_index(&self.layout.segment, self.segment_index);
        self.segment_index += 1;
        if let Some(s) = &self.served {
            s.rendition.begin(&name);
        }
        let segment = Segment::new(
            name.clone(),
            self.map.clone().unwrap_or_default(),
            std::mem::take(&mut self.discontinuity_next),
            self.date_time(start_ns),
        );
        self.boundary_us = Some(us(start_ns));
        let gone = self.playlist.start(segment);
        self.forget(gone);
        self.segment = Some((name, BytesMut::new()));
        self.part_objects.push_back(Vec::new());
        while self.part_objects.len() > PARTS_KEPT {
            if let (Some(old), Some(s)) = (self.part_objects.pop_front(), &self.served) {
                for name in old {
                    s.rendition.remove(&name);
                }
            }
        }
    }

    /// Segments that left the window stay served for another window.
    fn forget(&mut self, gone: Vec<Segment>) {
        let keep = (self.layout.playlist_length as usize).max(3);
        for s in gone {
            self.gone.push_back(s.uri);
        }
        while self.gone.len() > keep {
            if let (Some(old), Some(s)) = (self.gone.pop_front(), &self.served) {
                s.rendition.remove(&old);
            }
        }
    }

    fn close_segment(&mut self) -> io::Result<()> {
        let Some((name, bytes)) = self.segment.take() else {
            return Ok(());
        };
        if let Some(f) = &self.layout.files {
            let index = self.segment_index.saturating_sub(1);
            write_atomically(&format_index(&f.segment, index), &bytes)?;
        }
        if let Some(s) = &self.served {
            s.rendition.finish(&name);
        }
        if let Some(c) = self.playlist.current() {
            self.media_us += c.duration_us;
        }
        self.update_variants()
    }

    /// The multivariant playlist: every rendition on the server (or this one).
    fn update_variants(&mut self) -> io::Result<()> {
        let seconds = (self.media_us as f64 / 1e6).max(1.0);
        let bandwidth = ((self.bytes as f64 * 8.0 / seconds) as u64).max(1);
        let mut entry = format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"{}\"",
            self.codecs
        );
        if let Some((w, h)) = self.resolution {
            entry.push_str(&format!(",RESOLUTION={w}x{h}"));
        }
        let Some(name) = self.layout.multivariant.clone() else {
            return Ok(());
        };
        let text = match &self.served {
            Some(s) => {
                s.origin.set_variant(
                    &s.prefix,
                    Some(format!("{entry}\n{}", s.path(&self.layout.playlist))),
                );
                let mut text =
                    String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
                for (_, v) in s.origin.variants() {
                    text.push_str(&v);
                    text.push('\n');
                }
                s.rendition.put(&name, Bytes::from(text.clone()));
                text
            }
            None => format!(
                "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n{entry}\n{}\n",
                self.layout.playlist
            ),
        };
        if let Some(path) = self
            .layout
            .files
            .as_ref()
            .and_then(|f| f.multivariant.clone())
        {
            write_atomically(&path, text.as_bytes())?;
        }
        Ok(())
    }

    /// Publishes the playlist as it stands now.
    fn publish(&mut self) -> io::Result<()> {
        if let Some(s) = &self.served {
            self.playlist.reports = s
                .origin
                .playlists()
                .into_iter()
                .filter(|(prefix, _, _)| *prefix != s.prefix)
                .map(|(prefix, name, p)| {
                    let (last_msn, last_part) = if p.parts_done > 0 {
                        (p.next_msn, Some(p.parts_done - 1))
                    } else {
                        let last = p.next_msn.saturating_sub(1);
                        let parts = p.parts_of.iter().find(|(m, _)| *m == last).map(|(_, c)| *c);
                        (last, parts.filter(|c| *c > 0).map(|c| c - 1))
                    };
                    let uri = if prefix.is_empty() {
                        format!("/{name}")
                    } else {
                        format!("/{prefix}/{name}")
                    };
                    Report {
                        uri,
                        last_msn,
                        last_part,
                    }
                })
                .collect();
            s.rendition
                .set_playlist(&self.layout.playlist, Arc::new(self.playlist.clone()));
        }
        if let Some(f) = &self.layout.files {
            write_atomically(
                &f.playlist,
                self.playlist.render(Default::default()).as_bytes(),
            )?;
        }
        Ok(())
    }

    /// The presentation is complete: the final playlist (`EXT-X-ENDLIST`) answers every
    /// held request.
    pub fn finish(&mut self) -> io::Result<()> {
        self.close_segment()?;
        let gone = self.playlist.end();
        self.forget(gone);
        if let (Some(old), Some(s)) = (self.hinted.take(), &self.served)
            && !self.layout.byteranges
        {
            s.rendition.remove(&old);
        }
        self.publish()
    }
}

/// The name of part `k` of a segment: `seg00012.m4s` → `seg00012.3.m4s`.
fn part_name(segment: &str, k: usize) -> String {
    match segment.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{k}.{ext}"),
        None => format!("{segment}.{k}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Skip;

    const MS: u64 = 1_000_000;

    fn writer(byteranges: bool) -> LiveWriter {
        let mut w = LiveWriter::new(
            LiveLayout {
                segment: "seg%05d.m4s".into(),
                init: "init%d.mp4".into(),
                playlist: "p.m3u8".into(),
                multivariant: None,
                files: None,
                target_duration: 1,
                part_ns: 200 * MS,
                byteranges,
                playlist_length: 0,
                key: None,
            },
            None,
        );
        // 25 fps: full parts of five frames.
        w.set_frame(Some(40 * MS));
        w.init(Bytes::from_static(b"init")).unwrap();
        w
    }

    /// Feeds chunks `from..to` of 200 ms from 40 ms on; a fragment starts every fifth.
    fn feed(w: &mut LiveWriter, from: u64, to: u64) {
        for k in from..to {
            let t = 40 * MS + k * 200 * MS;
            w.append(&[k as u8; 10]);
            w.chunk(ChunkFacts {
                keyframe_start: k % 5 == 0,
                earliest: Some(t),
                reference_end: Some(t + 200 * MS),
            })
            .unwrap();
        }
    }

    #[test]
    fn the_hint_names_the_next_part_or_the_next_segment() {
        let mut w = writer(false);
        feed(&mut w, 0, 3);
        let hint = w.playlist.hint.clone().unwrap();
        assert_eq!(hint.uri, "seg00000.3.m4s");
        feed(&mut w, 3, 5);
        // Five parts make the target: the next part starts the next segment.
        assert_eq!(w.playlist.hint.clone().unwrap().uri, "seg00001.0.m4s");
        assert_eq!(w.playlist.part_target_us, Some(200_001));
    }

    #[test]
    fn parts_tile_segments_and_byteranges_count_the_bytes() {
        let mut w = writer(true);
        feed(&mut w, 0, 7);
        w.finish().unwrap();
        let text = w.playlist.render(Skip::No);
        assert!(text.contains("#EXTINF:1.000000,\nseg00000.m4s\n"), "{text}");
        assert!(text.contains("URI=\"seg00000.m4s\",BYTERANGE=\"10@40\"\n"));
        assert!(text.contains("URI=\"seg00001.m4s\",BYTERANGE=\"10@0\",INDEPENDENT=YES\n"));
        assert!(text.contains("#EXTINF:0.400000,\nseg00001.m4s\n#EXT-X-ENDLIST\n"));
        assert!(!text.contains("PRELOAD-HINT"));
    }
}
