//! SCTE-35 `splice_info_section` (ANSI/SCTE 35 9.2): the checks a splice info buffer
//! must pass, and what an event takes from it (the event ID and the break duration of a
//! `splice_insert`).

use super::EventError;

/// `splice_command_type` of `splice_insert`.
pub const SPLICE_INSERT: u8 = 0x05;

/// What an event needs from a splice info section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpliceInfo {
    pub command_type: u8,
    /// `splice_event_id` of a `splice_insert`.
    pub event_id: Option<u32>,
    /// `break_duration` of a `splice_insert`, in 90 kHz ticks.
    pub break_duration: Option<u64>,
    /// `out_of_network_indicator` of a `splice_insert`.
    pub out_of_network: bool,
}

impl SpliceInfo {
    /// The break duration in ns.
    pub fn duration_ns(&self) -> Option<u64> {
        self.break_duration.map(|d| d * 100_000 / 9)
    }
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial value all ones, not reflected, no
/// final XOR): 0 over a section that ends with its own CRC.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn u33(b: &[u8]) -> u64 {
    (u64::from(b[0] & 1) << 32) | u64::from(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
}

/// Checks a complete `splice_info_section` (table ID, length, CRC) and reads its command.
pub fn parse_section(data: &[u8]) -> Result<SpliceInfo, EventError> {
    if data.len() < 3 {
        return Err(EventError::NotScte35("shorter than the section header"));
    }
    if data[0] != 0xfc {
        return Err(EventError::NotScte35("table_id is not 0xFC"));
    }
    if data[1] & 0x80 != 0 {
        return Err(EventError::NotScte35("section_syntax_indicator is set"));
    }
    let declared = 3 + ((usize::from(data[1] & 0x0f) << 8) | usize::from(data[2]));
    if data.len() < declared {
        return Err(EventError::Scte35Truncated {
            declared,
            actual: data.len(),
        });
    }
    let section = &data[..declared];
    if declared < 14 + 4 {
        return Err(EventError::NotScte35(
            "section too short for its fixed fields",
        ));
    }
    let crc_at = declared - 4;
    let found = u32::from_be_bytes([
        section[crc_at],
        section[crc_at + 1],
        section[crc_at + 2],
        section[crc_at + 3],
    ]);
    let computed = crc32_mpeg2(&section[..crc_at]);
    if found != computed {
        return Err(EventError::Scte35Crc { found, computed });
    }
    let encrypted = section[4] & 0x80 != 0;
    let command_type = section[13];
    let mut info = SpliceInfo {
        command_type,
        event_id: None,
        break_duration: None,
        out_of_network: false,
    };
    if encrypted || command_type != SPLICE_INSERT {
        return Ok(info);
    }
    // splice_insert(), up to the CRC (descriptors follow it; their bounds do not matter).
    let cmd = &section[14..crc_at];
    let short = EventError::NotScte35("splice_insert runs past the section");
    let id = cmd.get(..4).ok_or(short.clone())?;
    info.event_id = Some(u32::from_be_bytes([id[0], id[1], id[2], id[3]]));
    let cancel = cmd.get(4).ok_or(short.clone())? & 0x80 != 0;
    if cancel {
        return Ok(info);
    }
    let flags = *cmd.get(5).ok_or(short.clone())?;
    info.out_of_network = flags & 0x80 != 0;
    let program_splice = flags & 0x40 != 0;
    let duration_flag = flags & 0x20 != 0;
    let immediate = flags & 0x10 != 0;
    let mut at = 6;
    let splice_time_len = |at: usize| -> Result<usize, EventError> {
        let b = cmd.get(at).ok_or(short.clone())?;
        Ok(if b & 0x80 != 0 { 5 } else { 1 })
    };
    if program_splice {
        if !immediate {
            at += splice_time_len(at)?;
        }
    } else {
        let count = usize::from(*cmd.get(at).ok_or(short.clone())?);
        at += 1;
        for _ in 0..count {
            at += 1; // component_tag
            if !immediate {
                at += splice_time_len(at)?;
            }
        }
    }
    if duration_flag {
        let d = cmd.get(at..at + 5).ok_or(short)?;
        info.break_duration = Some(u33(d));
    }
    Ok(info)
}

/// A `splice_insert` section (program splice, not immediate) with a splice time and,
/// when given, a break duration (both 90 kHz), for tests and examples.
pub fn splice_insert_section(event_id: u32, pts: u64, break_duration: Option<u64>) -> Vec<u8> {
    splice_insert(event_id, pts, break_duration, true)
}

/// A `splice_insert` back into the network (`out_of_network_indicator` 0, the end of a
/// break) at a splice time (90 kHz), for tests and examples.
pub fn splice_return_section(event_id: u32, pts: u64) -> Vec<u8> {
    splice_insert(event_id, pts, None, false)
}

fn splice_insert(event_id: u32, pts: u64, break_duration: Option<u64>, out: bool) -> Vec<u8> {
    let time33 = |flag: u8, t: u64| -> [u8; 5] {
        [
            flag | 0x7e | ((t >> 32) as u8 & 1),
            (t >> 24) as u8,
            (t >> 16) as u8,
            (t >> 8) as u8,
            t as u8,
        ]
    };
    let mut cmd = event_id.to_be_bytes().to_vec();
    cmd.push(0x7f); // not cancelled
    let duration_flag = if break_duration.is_some() { 0x20 } else { 0 };
    let out_flag = if out { 0x80 } else { 0 };
    cmd.push(out_flag | 0x40 | duration_flag | 0x0f); // out of network?, program splice
    cmd.extend_from_slice(&time33(0x80, pts));
    if let Some(d) = break_duration {
        cmd.extend_from_slice(&time33(0x80, d)); // auto_return
    }
    cmd.extend_from_slice(&[0, 1, 0, 0]); // unique_program_id, avail_num, avails_expected
    let mut s = vec![0xfc, 0, 0, 0]; // table_id, length (later), protocol_version 0
    s.extend_from_slice(&[0, 0, 0, 0, 0]); // not encrypted, pts_adjustment 0
    s.push(0xff); // cw_index
    let len = cmd.len() as u16;
    s.extend_from_slice(&[0xff, 0xf0 | (len >> 8) as u8, len as u8]); // tier, command length
    s.push(SPLICE_INSERT);
    s.extend_from_slice(&cmd);
    s.extend_from_slice(&[0, 0]); // descriptor_loop_length
    let section_length = s.len() - 3 + 4;
    s[1] = 0x30 | ((section_length >> 8) as u8 & 0x0f);
    s[2] = section_length as u8;
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        // The CRC-32/MPEG-2 check value of "123456789".
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
    }

    #[test]
    fn splice_insert_with_a_break_duration() {
        let s = splice_insert_section(0x1234, 900_000, Some(30 * 90_000));
        assert_eq!(crc32_mpeg2(&s), 0);
        let info = parse_section(&s).unwrap();
        assert_eq!(info.command_type, SPLICE_INSERT);
        assert_eq!(info.event_id, Some(0x1234));
        assert!(info.out_of_network);
        assert_eq!(info.break_duration, Some(2_700_000));
        assert_eq!(info.duration_ns(), Some(30_000_000_000));
    }

    #[test]
    fn a_splice_back_in() {
        let s = splice_return_section(9, 90_000);
        let info = parse_section(&s).unwrap();
        assert_eq!(info.event_id, Some(9));
        assert!(!info.out_of_network);
        assert_eq!(info.break_duration, None);
    }

    #[test]
    fn splice_insert_without_duration() {
        let s = splice_insert_section(7, 0x1_0000_0000, None);
        let info = parse_section(&s).unwrap();
        assert_eq!(info.event_id, Some(7));
        assert_eq!(info.break_duration, None);
    }

    #[test]
    fn bad_sections_are_refused() {
        let mut s = splice_insert_section(7, 0, Some(90_000));
        let last = s.len() - 1;
        s[last] ^= 1;
        assert!(matches!(
            parse_section(&s),
            Err(EventError::Scte35Crc { .. })
        ));
        let s = splice_insert_section(7, 0, Some(90_000));
        assert!(matches!(
            parse_section(&s[..s.len() - 2]),
            Err(EventError::Scte35Truncated { .. })
        ));
        assert!(matches!(
            parse_section(b"ID3\x04"),
            Err(EventError::NotScte35(_))
        ));
        assert!(matches!(
            parse_section(&[0xfc]),
            Err(EventError::NotScte35(_))
        ));
    }
}
