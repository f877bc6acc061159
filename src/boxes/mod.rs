//! ISO BMFF writing from plain descriptions. Knows nothing of GStreamer.

pub mod cenc;
pub mod emsg;
pub mod fragment;
pub mod index;
pub mod init;
pub mod movie;
pub mod prft;
pub mod progressive;
pub mod reader;
pub mod sidx;
pub mod writer;
pub mod wvtt;

pub use fragment::{ChunkError, SampleDesc, TrafDesc, write_chunk_header};
pub use init::{MovieDesc, write_init};
pub use writer::{BoxWriter, FourCc, mdat_header};

/// `sample_flags` of a sync sample: depends_on = 2 (does not depend on others), is_non_sync = 0.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: depends_on = 1, is_non_sync = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// One track of the movie as the init segment describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackDesc {
    pub track_id: u32,
    /// Media timescale (`mdhd`), ticks per second.
    pub timescale: u32,
    pub entry: SampleEntry,
    /// The track's language (`mdhd`, `elng`); `None` writes `und` and no `elng`.
    pub language: Option<Language>,
}

/// A track's language in the two forms ISO BMFF carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language {
    /// ISO 639-2/T code, three lower-case letters (`mdhd`).
    pub iso639_2t: [u8; 3],
    /// BCP 47 tag (`elng`), e.g. `en`, `pt-BR`.
    pub bcp47: String,
}

impl Language {
    /// The `mdhd` language field: five bits per letter (letter − 0x60), the top bit 0.
    pub fn packed(&self) -> u16 {
        self.iso639_2t.iter().fold(0u16, |acc, c| {
            (acc << 5) | (u16::from(c.wrapping_sub(0x60)) & 0x1f)
        })
    }
}

/// What kind of media a sample entry describes, with the fields of its base entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    Video {
        width: u16,
        height: u16,
        /// Pixel aspect ratio (`pasp`), written only when known.
        pixel_aspect: Option<(u32, u32)>,
        /// Colour description (`colr` nclx), written only when known.
        colour: Option<Colour>,
    },
    Audio {
        channels: u16,
        /// Rate written in the entry; 0 when it does not fit 16 bits.
        sample_rate: u32,
    },
    /// Timed text (`wvtt`, ISO/IEC 14496-30): a plain text sample entry, handler `text`,
    /// a null media header.
    Text,
}

/// The `nclx` colour description: ISO/IEC 23091-2 code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    pub primaries: u16,
    pub transfer: u16,
    pub matrix: u16,
    pub full_range: bool,
}

/// A sample entry: its four-character code, base fields and codec configuration boxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEntry {
    pub fourcc: FourCc,
    pub kind: MediaKind,
    /// Codec configuration boxes (`avcC`, `hvcC`, `esds`, ...) in writing order.
    pub children: Vec<ChildBox>,
}

/// A codec configuration box with its body already encoded by the codec module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildBox {
    pub fourcc: FourCc,
    /// `Some((version, flags))` for a full box.
    pub full: Option<(u8, u32)>,
    pub body: Vec<u8>,
}

impl TrackDesc {
    pub fn is_video(&self) -> bool {
        matches!(self.entry.kind, MediaKind::Video { .. })
    }

    pub fn is_text(&self) -> bool {
        matches!(self.entry.kind, MediaKind::Text)
    }
}
