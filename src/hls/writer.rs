//! Files of an HLS presentation: init segments, media segments, playlists.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::playlist::{MediaPlaylist, Segment, multivariant};

/// Where and how the presentation is written.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Media segment path with one `%d`/`%0Nd` for the index.
    pub segment: String,
    /// Init segment path with one `%d`/`%0Nd` for the index.
    pub init: String,
    pub playlist: String,
    pub multivariant: Option<String>,
    pub target_duration: u32,
    /// Segments listed in the playlist (0: all).
    pub playlist_length: u32,
    /// Segment files kept on disk (0: all).
    pub max_files: u32,
    /// `EXT-X-KEY` attributes when the segments are encrypted.
    pub key: Option<String>,
    /// One file (`segment`, no index) holding the init and every segment, listed as
    /// byte ranges (`EXT-X-BYTERANGE`, `EXT-X-MAP:BYTERANGE`).
    pub single_file: bool,
}

/// Fills the first `%d` or `%0Nd` of `pattern` with `n`.
pub fn format_index(pattern: &str, n: u32) -> String {
    let Some(start) = pattern.find('%') else {
        return format!("{pattern}{n}");
    };
    let rest = &pattern[start + 1..];
    let Some(d) = rest.find('d') else {
        return format!("{pattern}{n}");
    };
    let width: usize = rest[..d].trim_start_matches('0').parse().unwrap_or(0);
    format!(
        "{}{:0width$}{}",
        &pattern[..start],
        n,
        &rest[d + 1..],
        width = width
    )
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Writes a file so readers never see it half written.
fn write_atomically(path: &str, text: &str) -> io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// A media segment whose bytes are being written or are complete on disk.
struct SegmentFile {
    path: String,
    /// The init segment in force when this segment started.
    map: String,
    /// Earliest presentation time of the cutting track (ns, the muxer's output time).
    start: u64,
    discontinuity: bool,
    /// Single file: where the segment starts in it, its length so far, and its init's
    /// (length, offset).
    offset: Option<u64>,
    len: u64,
    map_range: Option<(u64, u64)>,
}

/// The presentation being written, fed with the muxer's output.
///
/// Segment durations follow DESIGN.md T4: a segment lasts from its earliest presentation
/// time to the next one's, the last until the presentation end, as the muxer's fragment
/// messages tell them. A segment is therefore listed once the next one has started (or
/// at the end).
pub struct Writer {
    layout: Layout,
    playlist: MediaPlaylist,
    segment_index: u32,
    init_index: u32,
    map: Option<String>,
    discontinuity_next: bool,
    /// The segment being written.
    current: Option<(File, SegmentFile)>,
    /// The segment before it: complete, listed once the current one's start is known.
    waiting: Option<SegmentFile>,
    /// Largest presentation end the muxer reported (ns).
    presentation_end: Option<u64>,
    on_disk: std::collections::VecDeque<PathBuf>,
    bytes: u64,
    media_ns: u64,
    warnings: Vec<String>,
    /// (running time ns, UTC ms) sampled once when playing started.
    clock: Option<(u64, i64)>,
    /// Single file: the file, bytes written to it, and the init in force (length, offset).
    single: Option<File>,
    offset: u64,
    map_range: Option<(u64, u64)>,
    /// (start, end) ns of each segment listed, in order (the subtitle rendition's
    /// segments follow them).
    spans: Vec<(u64, u64)>,
}

impl Writer {
    pub fn new(layout: Layout) -> Self {
        let window = layout.playlist_length as usize;
        Self {
            playlist: MediaPlaylist::new(layout.target_duration, window)
                .with_key(layout.key.clone()),
            layout,
            segment_index: 0,
            init_index: 0,
            map: None,
            discontinuity_next: false,
            current: None,
            waiting: None,
            presentation_end: None,
            on_disk: Default::default(),
            bytes: 0,
            media_ns: 0,
            warnings: Vec::new(),
            clock: None,
            single: None,
            offset: 0,
            map_range: None,
            spans: Vec::new(),
        }
    }

    /// Sets the playlist's `EXT-X-DATERANGE`s (attribute lists) and rewrites it.
    pub fn set_date_ranges(&mut self, ranges: Vec<String>) -> io::Result<()> {
        self.playlist.date_ranges = ranges;
        write_atomically(&self.layout.playlist, &self.playlist.render())
    }

    /// Sets the `EXT-X-CUE-OUT`/`-IN` lines (by segment number, as [`Writer::spans`]
    /// counts) and rewrites the playlist.
    pub fn set_cue_tags(&mut self, tags: Vec<(usize, String)>) -> io::Result<()> {
        self.playlist.cue_tags = tags;
        write_atomically(&self.layout.playlist, &self.playlist.render())
    }

    /// UTC (ms since the epoch) of a time on the segments' timeline, as their
    /// `EXT-X-PROGRAM-DATE-TIME`s have it.
    pub fn utc_ms(&self, t: u64) -> Option<i64> {
        self.clock
            .map(|(at, utc)| utc + (t as i64 - at as i64).div_euclid(1_000_000))
    }

    /// (start, end) ns of each segment listed so far.
    pub fn spans(&self) -> &[(u64, u64)] {
        &self.spans
    }

    /// Single file: the file, created on first use.
    fn single_file(&mut self) -> io::Result<&mut File> {
        if self.single.is_none() {
            self.single = Some(File::create(&self.layout.segment)?);
        }
        Ok(self.single.as_mut().expect("just created"))
    }

    /// Maps running times to UTC (`EXT-X-PROGRAM-DATE-TIME`) from one sampled pair.
    pub fn set_clock(&mut self, clock: Option<(u64, i64)>) {
        if self.clock.is_none() {
            self.clock = clock;
        }
    }

    /// An init segment: the next segments refer to it (after a discontinuity if it is
    /// not the first).
    pub fn init(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.map.is_some() {
            self.discontinuity_next = true;
        }
        if self.layout.single_file {
            self.single_file()?.write_all(bytes)?;
            self.map_range = Some((bytes.len() as u64, self.offset));
            self.offset += bytes.len() as u64;
            self.map = Some(file_name(&self.layout.segment));
            return Ok(());
        }
        let path = format_index(&self.layout.init, self.init_index);
        self.init_index += 1;
        std::fs::write(&path, bytes)?;
        self.map = Some(file_name(&path));
        Ok(())
    }

    /// Starts a media segment (a fragment start). `pts` (ns) stands for its start until
    /// [`Writer::fragment`] tells the real one.
    pub fn start_segment(&mut self, pts: u64) -> io::Result<()> {
        if let Some((mut file, seg)) = self.current.take() {
            file.flush()?;
            if let Some(before) = self.waiting.take() {
                // No fragment facts came for `seg`: its provisional start ends `before`.
                self.list(before, seg.start)?;
            }
            self.waiting = Some(seg);
        }
        let (path, file, offset) = if self.layout.single_file {
            let file = self.single_file()?.try_clone()?;
            (self.layout.segment.clone(), file, Some(self.offset))
        } else {
            let path = format_index(&self.layout.segment, self.segment_index);
            let file = File::create(&path)?;
            (path, file, None)
        };
        self.segment_index += 1;
        self.current = Some((
            file,
            SegmentFile {
                path,
                map: self.map.clone().unwrap_or_default(),
                start: pts,
                discontinuity: std::mem::take(&mut self.discontinuity_next),
                offset,
                len: 0,
                map_range: self.map_range.filter(|_| offset.is_some()),
            },
        ));
        Ok(())
    }

    /// Appends bytes of the current segment.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some((file, seg)) = self.current.as_mut() else {
            return Err(io::Error::other(
                "media data before the first fragment start",
            ));
        };
        file.write_all(bytes)?;
        seg.len += bytes.len() as u64;
        if self.layout.single_file {
            self.offset += bytes.len() as u64;
        }
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// The muxer's facts about the chunk just appended (its `fragmp4mux-fragment`
    /// message): whether it started a fragment, its earliest presentation time and the
    /// presentation end so far (ns). A fragment start completes the segment before it.
    pub fn fragment(
        &mut self,
        keyframe_start: bool,
        earliest: Option<u64>,
        presentation_end: Option<u64>,
    ) -> io::Result<()> {
        if let Some(end) = presentation_end {
            self.presentation_end = Some(self.presentation_end.map_or(end, |e| e.max(end)));
        }
        if !keyframe_start {
            return Ok(());
        }
        let start = match (self.current.as_mut(), earliest) {
            (Some((_, seg)), Some(t)) => {
                seg.start = t;
                t
            }
            (Some((_, seg)), None) => seg.start,
            (None, _) => return Ok(()),
        };
        match self.waiting.take() {
            Some(before) => self.list(before, start),
            None => Ok(()),
        }
    }

    /// Warnings for the application (segments the fixed target duration cannot cover).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Lists a complete segment ending at `end` (ns) and rewrites the playlist.
    fn list(&mut self, seg: SegmentFile, end: u64) -> io::Result<()> {
        self.spans.push((seg.start, end.max(seg.start)));
        let duration = end.saturating_sub(seg.start);
        self.media_ns += duration;
        let seconds = duration as f64 / 1e9;
        if self.playlist.exceeds_target(seconds) {
            self.warnings.push(format!(
                "segment {} lasts {:.3} s, above the target duration of {} s (no keyframe came earlier; lower the encoder's keyframe interval or raise target-duration)",
                file_name(&seg.path),
                seconds,
                self.playlist.target()
            ));
        }
        self.playlist.push(Segment {
            uri: file_name(&seg.path),
            duration: seconds,
            map: seg.map,
            discontinuity: seg.discontinuity,
            date_time_ms: self
                .clock
                .map(|(at, utc)| utc + (seg.start as i64 - at as i64).div_euclid(1_000_000)),
            byterange: seg.offset.map(|at| (seg.len, at)),
            map_byterange: seg.map_range,
        });
        if seg.offset.is_some() {
            // One file: nothing to delete segment by segment.
            return write_atomically(&self.layout.playlist, &self.playlist.render());
        }
        self.on_disk.push_back(PathBuf::from(&seg.path));
        while self.layout.max_files > 0 && self.on_disk.len() > self.layout.max_files as usize {
            if let Some(old) = self.on_disk.pop_front() {
                let _ = std::fs::remove_file(old);
            }
        }
        write_atomically(&self.layout.playlist, &self.playlist.render())
    }

    /// Lists the segments still open: the last one ends at the presentation end.
    fn close_all(&mut self) -> io::Result<()> {
        let current = match self.current.take() {
            Some((mut file, seg)) => {
                file.flush()?;
                Some(seg)
            }
            None => None,
        };
        if let Some(before) = self.waiting.take() {
            let end = current.as_ref().map_or(before.start, |s| s.start);
            self.list(before, end)?;
        }
        if let Some(seg) = current {
            let end = self.presentation_end.unwrap_or(seg.start);
            self.list(seg, end)?;
        }
        Ok(())
    }

    /// Closes the presentation (`EXT-X-ENDLIST`) and writes the multivariant playlist.
    pub fn finish(&mut self, codecs: &str, resolution: Option<(u32, u32)>) -> io::Result<()> {
        self.close_all()?;
        self.playlist.end();
        write_atomically(&self.layout.playlist, &self.playlist.render())?;
        self.write_multivariant(codecs, resolution)
    }

    /// Writes the multivariant playlist, if one is configured.
    pub fn write_multivariant(
        &self,
        codecs: &str,
        resolution: Option<(u32, u32)>,
    ) -> io::Result<()> {
        let Some(path) = &self.layout.multivariant else {
            return Ok(());
        };
        let seconds = (self.media_ns as f64 / 1e9).max(1.0);
        let bandwidth = ((self.bytes as f64 * 8.0 / seconds) as u64).max(1);
        write_atomically(
            path,
            &multivariant(
                &file_name(&self.layout.playlist),
                codecs,
                bandwidth,
                resolution,
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn extinfs(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:").map(str::to_string))
            .collect()
    }

    #[test]
    fn durations_come_from_the_fragment_facts_not_the_bytes() {
        let d = std::env::temp_dir().join(format!("fragmp4-hls-writer-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let at = |name: &str| d.join(name).to_string_lossy().into_owned();
        let playlist = d.join("p.m3u8");
        let mut w = Writer::new(Layout {
            segment: at("seg%d.m4s"),
            init: at("init%d.mp4"),
            playlist: at("p.m3u8"),
            multivariant: None,
            target_duration: 1,
            playlist_length: 0,
            max_files: 0,
            key: None,
            single_file: false,
        });
        w.init(b"init").unwrap();
        // The bytes of each fragment start with audio (its buffer PTS), the video 7 ms
        // after; the audio runs 20 ms past the video's end.
        w.start_segment(40 * MS).unwrap();
        w.append(b"first").unwrap();
        w.fragment(true, Some(47 * MS), Some(1067 * MS)).unwrap();
        assert!(!playlist.exists(), "listed once its end is known");
        w.start_segment(1040 * MS).unwrap();
        w.append(b"second").unwrap();
        w.fragment(true, Some(1047 * MS), Some(2067 * MS)).unwrap();
        assert_eq!(extinfs(&playlist), ["1.000000,"]);
        // A chunk that does not start a fragment moves only the presentation end.
        w.append(b"more").unwrap();
        w.fragment(false, Some(1500 * MS), Some(2200 * MS)).unwrap();
        w.finish("avc1.64001f", None).unwrap();
        assert_eq!(extinfs(&playlist), ["1.000000,", "1.153000,"]);
        assert_eq!(std::fs::read(d.join("seg1.m4s")).unwrap(), b"secondmore");
        // The target stayed what the first playlist said; 1.153 s rounds to it.
        assert!(
            std::fs::read_to_string(&playlist)
                .unwrap()
                .contains("#EXT-X-TARGETDURATION:1\n")
        );
        assert!(w.take_warnings().is_empty());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn index_patterns() {
        assert_eq!(format_index("segment%05d.m4s", 7), "segment00007.m4s");
        assert_eq!(format_index("/x/init%d.mp4", 12), "/x/init12.mp4");
        assert_eq!(format_index("seg.m4s", 3), "seg.m4s3");
    }
}
