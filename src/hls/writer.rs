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

struct OpenSegment {
    file: File,
    path: String,
    /// The init segment in force when this segment started.
    map: String,
    start: u64,
    end: u64,
    discontinuity: bool,
}

/// The presentation being written, fed with the muxer's output.
pub struct Writer {
    layout: Layout,
    playlist: MediaPlaylist,
    segment_index: u32,
    init_index: u32,
    map: Option<String>,
    discontinuity_next: bool,
    current: Option<OpenSegment>,
    on_disk: std::collections::VecDeque<PathBuf>,
    bytes: u64,
    media_ns: u64,
}

impl Writer {
    pub fn new(layout: Layout) -> Self {
        let window = layout.playlist_length as usize;
        Self {
            playlist: MediaPlaylist::new(layout.target_duration, window),
            layout,
            segment_index: 0,
            init_index: 0,
            map: None,
            discontinuity_next: false,
            current: None,
            on_disk: Default::default(),
            bytes: 0,
            media_ns: 0,
        }
    }

    /// An init segment: the next segments refer to it (after a discontinuity if it is
    /// not the first).
    pub fn init(&mut self, bytes: &[u8]) -> io::Result<()> {
        let path = format_index(&self.layout.init, self.init_index);
        self.init_index += 1;
        std::fs::write(&path, bytes)?;
        if self.map.is_some() {
            self.discontinuity_next = true;
        }
        self.map = Some(file_name(&path));
        Ok(())
    }

    /// Starts a media segment at running time `pts` (ns).
    pub fn start_segment(&mut self, pts: u64) -> io::Result<()> {
        self.close_segment()?;
        let path = format_index(&self.layout.segment, self.segment_index);
        self.segment_index += 1;
        self.current = Some(OpenSegment {
            file: File::create(&path)?,
            path,
            map: self.map.clone().unwrap_or_default(),
            start: pts,
            end: pts,
            discontinuity: std::mem::take(&mut self.discontinuity_next),
        });
        Ok(())
    }

    /// Appends bytes of the current segment, which lasts at least until `end` (ns).
    pub fn append(&mut self, bytes: &[u8], end: Option<u64>) -> io::Result<()> {
        let Some(seg) = self.current.as_mut() else {
            return Err(io::Error::other(
                "media data before the first fragment start",
            ));
        };
        seg.file.write_all(bytes)?;
        if let Some(e) = end {
            seg.end = seg.end.max(e);
        }
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Closes the current segment at its real duration and rewrites the playlist.
    fn close_segment(&mut self) -> io::Result<()> {
        let Some(mut seg) = self.current.take() else {
            return Ok(());
        };
        seg.file.flush()?;
        let duration = seg.end.saturating_sub(seg.start);
        self.media_ns += duration;
        self.playlist.push(Segment {
            uri: file_name(&seg.path),
            duration: duration as f64 / 1e9,
            map: seg.map,
            discontinuity: seg.discontinuity,
        });
        self.on_disk.push_back(PathBuf::from(&seg.path));
        while self.layout.max_files > 0 && self.on_disk.len() > self.layout.max_files as usize {
            if let Some(old) = self.on_disk.pop_front() {
                let _ = std::fs::remove_file(old);
            }
        }
        write_atomically(&self.layout.playlist, &self.playlist.render())
    }

    /// Starting the next segment ends the previous one where this one starts.
    pub fn set_end_of_current(&mut self, pts: u64) {
        if let Some(seg) = self.current.as_mut() {
            seg.end = seg.end.max(pts);
        }
    }

    /// Closes the presentation (`EXT-X-ENDLIST`) and writes the multivariant playlist.
    pub fn finish(&mut self, codecs: &str, resolution: Option<(u32, u32)>) -> io::Result<()> {
        self.close_segment()?;
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
    use super::format_index;

    #[test]
    fn index_patterns() {
        assert_eq!(format_index("segment%05d.m4s", 7), "segment00007.m4s");
        assert_eq!(format_index("/x/init%d.mp4", 12), "/x/init12.mp4");
        assert_eq!(format_index("seg.m4s", 3), "seg.m4s3");
    }
}
