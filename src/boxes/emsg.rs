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
    fn strings_lose_their_nuls() {
        assert_eq!(clean_string("a\0b"), "ab");
    }
}
