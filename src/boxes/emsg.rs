//! `emsg` event message boxes (ISO/IEC 23009-1 5.10.3.3, CMAF 7.4.5), written before
//! the `moof` of the chunk in which the event starts.

use super::writer::BoxWriter;

/// `event_duration` of an event whose duration is unknown.
pub const UNKNOWN_DURATION: u32 = 0xffff_ffff;

/// When the event starts, in ticks of the box's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmsgTime {
    /// Version 1: the presentation time on the track's timeline (the `tfdt` timeline).
    Absolute(u64),
    /// Version 0: the delay from the earliest presentation time of the segment.
    Delta(u32),
}

/// One event message, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmsgDesc<'a> {
    pub scheme_id_uri: &'a str,
    pub value: &'a str,
    pub timescale: u32,
    pub time: EmsgTime,
    /// In ticks; [`UNKNOWN_DURATION`] when unknown.
    pub duration: u32,
    pub id: u32,
    pub message_data: &'a [u8],
}

/// Appends one `emsg` box to `w`. Strings are written null-terminated; a NUL inside one
/// would end it early, so callers pass strings without NULs (see [`clean_string`]).
pub fn write_emsg(w: &mut BoxWriter, e: &EmsgDesc<'_>) {
    let cstr = |w: &mut BoxWriter, s: &str| {
        w.bytes(s.as_bytes());
        w.u8(0);
    };
    match e.time {
        EmsgTime::Absolute(t) => {
            let b = w.begin_full(*b"emsg", 1, 0);
            w.u32(e.timescale);
            w.u64(t);
            w.u32(e.duration);
            w.u32(e.id);
            cstr(w, e.scheme_id_uri);
            cstr(w, e.value);
            w.bytes(e.message_data);
            w.end(b);
        }
        EmsgTime::Delta(d) => {
            let b = w.begin_full(*b"emsg", 0, 0);
            cstr(w, e.scheme_id_uri);
            cstr(w, e.value);
            w.u32(e.timescale);
            w.u32(d);
            w.u32(e.duration);
            w.u32(e.id);
            w.bytes(e.message_data);
            w.end(b);
        }
    }
}

/// An `emsg` as read back (by the demuxer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEmsg {
    pub scheme_id_uri: String,
    pub value: String,
    pub timescale: u32,
    pub time: EmsgTime,
    pub duration: u32,
    pub id: u32,
    pub message_data: Vec<u8>,
}

/// Reads a whole `emsg` box (header included), version 0 or 1; `None` when it is not
/// one or is malformed.
pub fn parse_emsg(b: &[u8]) -> Option<ParsedEmsg> {
    let size = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    if b.get(4..8)? != b"emsg" || size < 12 || size > b.len() {
        return None;
    }
    let version = b[8];
    let mut at = 12;
    let body = &b[..size];
    let u32_at = |at: &mut usize| -> Option<u32> {
        let v = u32::from_be_bytes(body.get(*at..*at + 4)?.try_into().ok()?);
        *at += 4;
        Some(v)
    };
    let cstr = |at: &mut usize| -> Option<String> {
        let rest = body.get(*at..)?;
        let end = rest.iter().position(|c| *c == 0)?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        *at += end + 1;
        Some(s)
    };
    let (scheme_id_uri, value, timescale, time, duration, id);
    match version {
        0 => {
            scheme_id_uri = cstr(&mut at)?;
            value = cstr(&mut at)?;
            timescale = u32_at(&mut at)?;
            time = EmsgTime::Delta(u32_at(&mut at)?);
            duration = u32_at(&mut at)?;
            id = u32_at(&mut at)?;
        }
        1 => {
            timescale = u32_at(&mut at)?;
            let hi = u32_at(&mut at)?;
            let lo = u32_at(&mut at)?;
            time = EmsgTime::Absolute((u64::from(hi) << 32) | u64::from(lo));
            duration = u32_at(&mut at)?;
            id = u32_at(&mut at)?;
            scheme_id_uri = cstr(&mut at)?;
            value = cstr(&mut at)?;
        }
        _ => return None,
    }
    Some(ParsedEmsg {
        scheme_id_uri,
        value,
        timescale,
        time,
        duration,
        id,
        message_data: body[at..].to_vec(),
    })
}

/// `s` without NUL characters (they cannot appear in a null-terminated box string).
pub fn clean_string(s: &str) -> String {
    s.chars().filter(|c| *c != '\0').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(time: EmsgTime) -> EmsgDesc<'static> {
        EmsgDesc {
            scheme_id_uri: "https://aomedia.org/emsg/ID3",
            value: "1",
            timescale: 90000,
            time,
            duration: 180000,
            id: 7,
            message_data: b"ID3\x04",
        }
    }

    #[test]
    fn version_1_layout() {
        let mut w = BoxWriter::default();
        write_emsg(&mut w, &desc(EmsgTime::Absolute(0x1_0000_0002)));
        let b = w.into_bytes();
        let scheme = b"https://aomedia.org/emsg/ID3\0";
        let expected_len = 12 + 4 + 8 + 4 + 4 + scheme.len() + 2 + 4;
        assert_eq!(b.len(), expected_len);
        assert_eq!(
            u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(&b[4..8], b"emsg");
        assert_eq!(&b[8..12], &[1, 0, 0, 0]);
        assert_eq!(&b[12..16], &90000u32.to_be_bytes());
        assert_eq!(&b[16..24], &0x1_0000_0002u64.to_be_bytes());
        assert_eq!(&b[24..28], &180000u32.to_be_bytes());
        assert_eq!(&b[28..32], &7u32.to_be_bytes());
        assert_eq!(&b[32..32 + scheme.len()], scheme);
        let rest = &b[32 + scheme.len()..];
        assert_eq!(rest, b"1\0ID3\x04");
    }

    #[test]
    fn version_0_layout() {
        let mut w = BoxWriter::default();
        write_emsg(&mut w, &desc(EmsgTime::Delta(4500)));
        let b = w.into_bytes();
        assert_eq!(&b[8..12], &[0, 0, 0, 0]);
        let scheme = b"https://aomedia.org/emsg/ID3\0";
        assert_eq!(&b[12..12 + scheme.len()], scheme);
        let rest = &b[12 + scheme.len()..];
        assert_eq!(&rest[..2], b"1\0");
        assert_eq!(&rest[2..6], &90000u32.to_be_bytes());
        assert_eq!(&rest[6..10], &4500u32.to_be_bytes());
        assert_eq!(&rest[10..14], &180000u32.to_be_bytes());
        assert_eq!(&rest[14..18], &7u32.to_be_bytes());
        assert_eq!(&rest[18..], b"ID3\x04");
        assert_eq!(
            u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
    }

    #[test]
    fn boxes_read_back() {
        for time in [EmsgTime::Absolute(0x1_0000_0002), EmsgTime::Delta(4500)] {
            let mut w = BoxWriter::default();
            let d = desc(time);
            write_emsg(&mut w, &d);
            let p = parse_emsg(&w.into_bytes()).unwrap();
            assert_eq!(
                (
                    p.scheme_id_uri.as_str(),
                    p.value.as_str(),
                    p.timescale,
                    p.time
                ),
                (d.scheme_id_uri, d.value, d.timescale, time)
            );
            assert_eq!(
                (p.duration, p.id, &p.message_data[..]),
                (180000, 7, &b"ID3\x04"[..])
            );
        }
        assert_eq!(parse_emsg(b"\0\0\0\x0cemsg\x01\0\0\0"), None);
    }

    #[test]
    fn strings_lose_their_nuls() {
        assert_eq!(clean_string("a\0b"), "ab");
    }
}
