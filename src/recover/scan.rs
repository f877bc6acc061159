//! Walks the top-level boxes of a recording left on disk: its fragmented `moov`, every
//! complete `moof` + `mdat` pair, and where a torn tail begins. Reads only headers,
//! `moov`s and `moof`s; the payload is never loaded.

use std::io::{Read, Seek, SeekFrom};

use super::RecoverError;
use crate::boxes::reader::{BoxHeader, BoxReader};
use crate::demux::fragment::{MoofInfo, parse_moof};
use crate::demux::movie::{Movie, parse_moov};

/// Largest `moov` or `moof` read into memory.
const MAX_HEADER_BOX: u64 = 64 << 20;

/// What a recording file holds.
#[derive(Debug)]
pub struct Scan {
    /// The fragmented movie (the init segment's `moov`).
    pub movie: Movie,
    /// Offset of that `moov`.
    pub moov_offset: u64,
    /// Complete fragments in file order (their `mdat` entirely in the file).
    pub fragments: Vec<MoofInfo>,
    /// End of the last complete fragment: what is kept.
    pub kept: u64,
    /// Length of the file.
    pub len: u64,
    /// Offset of a `moov` without `mvex`: the file was finished already.
    pub finished_moov: Option<u64>,
    /// Offsets of every `moof` box met, complete or not.
    pub moofs: Vec<u64>,
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: usize) -> Result<Vec<u8>, RecoverError> {
    r.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// Scans a file of `len` bytes.
pub fn scan<R: Read + Seek>(r: &mut R, len: u64) -> Result<Scan, RecoverError> {
    let mut pos = 0u64;
    let mut movie: Option<(Movie, u64)> = None;
    let mut fragments = Vec::new();
    let mut pending: Option<MoofInfo> = None;
    let mut kept = 0u64;
    let mut finished_moov = None;
    let mut moofs = Vec::new();
    while pos + 8 <= len {
        let head = read_at(r, pos, (len - pos).min(16) as usize)?;
        let Some(header) = BoxHeader::parse(&head, pos)? else {
            break;
        };
        let size = header.size.unwrap_or(len - pos);
        if pos + size > len {
            break; // torn: the box runs past the end of the file
        }
        let body_at = pos + u64::from(header.header_len);
        let body_len = size - u64::from(header.header_len);
        match &header.kind {
            b"moov" | b"moof" if body_len > MAX_HEADER_BOX => {
                return Err(RecoverError::TooLarge {
                    kind: String::from_utf8_lossy(&header.kind).to_string(),
                    offset: pos,
                });
            }
            b"moov" => {
                let body = read_at(r, body_at, body_len as usize)?;
                let reader = BoxReader::new(*b"moov", pos, body_at, &body);
                let has_mvex = reader.find(b"mvex")?.is_some();
                if !has_mvex {
                    finished_moov = Some(pos);
                } else if movie.is_none() {
                    movie = Some((parse_moov(&reader)?, pos));
                    kept = pos + size;
                }
            }
            b"moof" => {
                moofs.push(pos);
                let Some((m, _)) = &movie else {
                    // A finished file whose init moov was neutralised already.
                    pos += size;
                    continue;
                };
                let body = read_at(r, body_at, body_len as usize)?;
                let reader = BoxReader::new(*b"moof", pos, body_at, &body);
                pending = Some(parse_moof(&reader, pos, m)?);
            }
            b"mdat" => {
                if let Some(f) = pending.take() {
                    let end = pos + size;
                    let inside = f
                        .samples
                        .iter()
                        .all(|s| s.offset >= body_at && s.offset + u64::from(s.size) <= end);
                    if !inside {
                        break; // a fragment whose samples are not in its mdat: stop here
                    }
                    fragments.push(f);
                    kept = end;
                }
            }
            _ => {}
        }
        pos += size;
    }
    let (movie, moov_offset) = match (movie, finished_moov) {
        (Some(m), _) => m,
        (None, Some(_)) => return Err(RecoverError::AlreadyFinished { moofs }),
        (None, None) => return Err(RecoverError::NoMovie),
    };
    Ok(Scan {
        movie,
        moov_offset,
        fragments,
        kept,
        len,
        finished_moov,
        moofs,
    })
}
