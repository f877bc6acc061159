//! Caps and codec configuration -> track description: sample entry, timescale, codec string.
//! Each codec's facts live in one file; this module dispatches on the caps name.

pub mod aac;
pub mod av1;
pub mod flac;
pub mod h264;
pub mod h265;
pub mod opus;
mod video;
pub mod vp9;
pub mod wvtt;

use crate::boxes::{FourCc, SampleEntry};

/// Everything the muxer needs to know about one track's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFormat {
    pub entry: SampleEntry,
    /// Media timescale (DESIGN.md A4).
    pub timescale: u32,
    /// RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec_string: String,
    /// Nominal duration of one sample in nanoseconds (frame or codec frame), if known.
    pub default_duration: Option<u64>,
    /// True for video: fragments start at its keyframes.
    pub is_video: bool,
    /// Bytes of the NAL unit length prefix when samples are length-prefixed NAL units.
    pub nal_length_size: Option<u8>,
    /// Samples of one codec frame in timescale ticks (audio), for the frame grid (T3).
    pub frame_ticks: Option<u32>,
    /// Ticks of encoder priming at the start not meant to be heard (Opus pre-skip);
    /// progressive output trims them with its edit list.
    pub priming: u32,
}

/// Caps that cannot be turned into a track, with what the user can do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("unsupported caps {0}")]
    Unsupported(String),
    #[error("caps field '{0}' is missing or has the wrong type")]
    MissingField(&'static str),
    #[error(
        "caps have stream-format={0}, but codec_data is missing; put a parser (h264parse, h265parse, aacparse) before the muxer"
    )]
    MissingCodecData(&'static str),
    #[error("invalid {what}: {why}")]
    InvalidCodecData { what: &'static str, why: String },
    #[error("invalid caps field '{field}': {why}")]
    InvalidField { field: &'static str, why: String },
}

impl CodecError {
    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        CodecError::InvalidCodecData {
            what,
            why: why.into(),
        }
    }
}

/// Builds the track format for caps accepted by the sink pads.
///
/// `timescale_override` replaces the computed video timescale (0 or `None`: computed).
pub fn track_format_from_caps(
    caps: &gst::CapsRef,
    timescale_override: Option<u32>,
) -> Result<TrackFormat, CodecError> {
    let s = caps
        .structure(0)
        .ok_or_else(|| CodecError::Unsupported(caps.to_string()))?;
    let mut format = match s.name().as_str() {
        "video/x-h264" => h264::from_caps(s)?,
        "video/x-h265" => h265::from_caps(s)?,
        "audio/mpeg" => aac::from_caps(s)?,
        "video/x-vp9" => vp9::from_caps(s, false)?,
        "video/x-vp8" => vp9::from_caps(s, true)?,
        "video/x-av1" => av1::from_caps(s)?,
        "audio/x-opus" => opus::from_caps(s)?,
        "audio/x-flac" => flac::from_caps(s)?,
        "application/x-subtitle-vtt" | "text/x-raw" => wvtt::from_caps(s)?,
        _ => return Err(CodecError::Unsupported(caps.to_string())),
    };
    if let Some(ts) = timescale_override.filter(|t| *t > 0) {
        format.timescale = ts;
    }
    Ok(format)
}

/// Caps for a sample entry read from a file: the inverse of [`track_format_from_caps`].
pub fn caps_from_entry(entry: &SampleEntry) -> Result<gst::Caps, CodecError> {
    match &entry.fourcc {
        b"avc1" | b"avc3" => h264::to_caps(entry),
        b"hvc1" | b"hev1" => h265::to_caps(entry),
        b"mp4a" => aac::to_caps(entry),
        b"vp09" | b"vp08" => vp9::to_caps(entry),
        b"av01" => av1::to_caps(entry),
        b"Opus" => opus::to_caps(entry),
        b"fLaC" => flac::to_caps(entry),
        b"wvtt" => Ok(wvtt::to_caps()),
        other => Err(CodecError::Unsupported(format!(
            "sample entry '{}'",
            String::from_utf8_lossy(other)
        ))),
    }
}

/// The body of the configuration box `fourcc` of an entry.
pub(crate) fn child<'a>(entry: &'a SampleEntry, fourcc: &FourCc) -> Result<&'a [u8], CodecError> {
    entry
        .children
        .iter()
        .find(|c| &c.fourcc == fourcc)
        .map(|c| c.body.as_slice())
        .ok_or_else(|| {
            CodecError::invalid(
                "sample entry",
                format!(
                    "'{}' has no '{}' box",
                    String::from_utf8_lossy(&entry.fourcc),
                    String::from_utf8_lossy(fourcc)
                ),
            )
        })
}

/// Checks that `data` is a whole access unit of NAL units, each prefixed by its length
/// in `length_size` bytes (what `avc`/`hvc1` samples must be).
pub fn check_length_prefixed(data: &[u8], length_size: u8) -> Result<(), String> {
    let mut check = LengthPrefixCheck::new(length_size, data.len());
    check.feed(data)?;
    check.finish()
}

/// [`check_length_prefixed`] over a sample given in pieces (a buffer's memories, each
/// mapped in turn, so a sample spread over several memories is never merged).
#[derive(Debug)]
pub struct LengthPrefixCheck {
    length_size: usize,
    total: usize,
    pos: usize,
    units: usize,
    /// Bytes of the current NAL unit's body not yet seen.
    body_left: usize,
    /// Bytes of the current length prefix seen, and their value so far.
    prefix_seen: usize,
    prefix: usize,
}

impl LengthPrefixCheck {
    /// A check of a sample of `total` bytes with `length_size`-byte prefixes.
    pub fn new(length_size: u8, total: usize) -> Self {
        LengthPrefixCheck {
            length_size: usize::from(length_size),
            total,
            pos: 0,
            units: 0,
            body_left: 0,
            prefix_seen: 0,
            prefix: 0,
        }
    }

    /// Checks the next piece of the sample.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), String> {
        while !piece.is_empty() {
            if self.body_left > 0 {
                let skip = self.body_left.min(piece.len());
                piece = &piece[skip..];
                self.body_left -= skip;
                self.pos += skip;
                continue;
            }
            if self.prefix_seen == 0 && self.total - self.pos < self.length_size {
                return Err(self.stray());
            }
            self.prefix = (self.prefix << 8) | usize::from(piece[0]);
            self.prefix_seen += 1;
            self.pos += 1;
            piece = &piece[1..];
            if self.prefix_seen == self.length_size {
                let len = std::mem::take(&mut self.prefix);
                self.prefix_seen = 0;
                let left = self.total - self.pos;
                if len == 0 || len > left {
                    return Err(format!(
                        "NAL unit {} at byte {} claims {len} bytes, {left} remain (byte-stream data or a truncated sample)",
                        self.units,
                        self.pos - self.length_size
                    ));
                }
                self.body_left = len;
                self.units += 1;
            }
        }
        Ok(())
    }

    /// Ends the check: every byte of the sample must have been fed and belong to a unit.
    pub fn finish(self) -> Result<(), String> {
        if self.prefix_seen > 0 || self.pos < self.total {
            return Err(self.stray());
        }
        Ok(())
    }

    fn stray(&self) -> String {
        let units = self.units;
        format!(
            "{} stray bytes after {units} NAL units",
            self.total - (self.pos - self.prefix_seen)
        )
    }
}

/// The bytes of the first `streamheader` buffer (FLAC STREAMINFO, OpusHead), `None`
/// when the caps have no stream headers.
pub(crate) fn first_stream_header(
    s: &gst::StructureRef,
    what: &'static str,
) -> Result<Option<Vec<u8>>, CodecError> {
    let Ok(headers) = s.get::<gst::ArrayRef>("streamheader") else {
        return Ok(None);
    };
    let first = headers
        .first()
        .and_then(|v| v.get::<gst::Buffer>().ok())
        .ok_or(CodecError::MissingField("streamheader"))?;
    let map = first
        .map_readable()
        .map_err(|_| CodecError::invalid(what, "buffer cannot be mapped"))?;
    Ok(Some(map.to_vec()))
}

/// The `codec_data` buffer's bytes, or an error naming the stream format that needs it.
pub(crate) fn codec_data(
    s: &gst::StructureRef,
    stream_format: &'static str,
) -> Result<Vec<u8>, CodecError> {
    let buf = s
        .get::<gst::Buffer>("codec_data")
        .map_err(|_| CodecError::MissingCodecData(stream_format))?;
    let map = buf
        .map_readable()
        .map_err(|_| CodecError::invalid("codec_data", "buffer cannot be mapped"))?;
    Ok(map.as_slice().to_vec())
}

#[cfg(test)]
mod tests {
    use super::{LengthPrefixCheck, check_length_prefixed};

    #[test]
    fn length_prefixed_access_units() {
        assert!(check_length_prefixed(&[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06], 4).is_ok());
        assert!(check_length_prefixed(&[0, 2, 0x65, 1], 2).is_ok());
        // Annex B start code: 0x00000001 reads as a 1-byte NAL followed by garbage.
        let err = check_length_prefixed(&[0, 0, 0, 1, 0x65, 0x88, 0x84], 4).unwrap_err();
        assert!(err.contains("stray bytes after 1 NAL units"), "{err}");
        let err = check_length_prefixed(&[0, 0, 0, 1, 0x65, 0, 0, 1, 0x41, 0x9a], 4).unwrap_err();
        assert!(err.contains("NAL unit 1 at byte 5"), "{err}");
        assert!(check_length_prefixed(&[0, 0, 0, 9, 0x65], 4).is_err());
        assert!(check_length_prefixed(&[0, 0, 0, 1, 0x65, 0], 4).is_err());
    }

    #[test]
    fn any_split_into_pieces_gives_the_whole_sample_verdict() {
        let samples: [&[u8]; 6] = [
            &[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06],
            &[0, 0, 0, 1, 0x65, 0x88, 0x84],
            &[0, 0, 0, 1, 0x65, 0, 0, 1, 0x41, 0x9a],
            &[0, 0, 0, 9, 0x65],
            &[0, 0, 0, 1, 0x65, 0],
            &[0, 0, 0, 0],
        ];
        for data in samples {
            let whole = check_length_prefixed(data, 4);
            for a in 0..=data.len() {
                for b in a..=data.len() {
                    let mut check = LengthPrefixCheck::new(4, data.len());
                    let split = [&data[..a], &data[a..b], &data[b..]]
                        .iter()
                        .try_for_each(|piece| check.feed(piece))
                        .and_then(|()| check.finish());
                    assert_eq!(split, whole, "{data:?} split at {a}, {b}");
                }
            }
        }
    }
}
