//! `EXT-X-DATERANGE` for SCTE-35 splice info (RFC 8216 4.3.2.7.1): pure text.

use crate::events::scte35::{SPLICE_INSERT, SpliceInfo};

/// The attribute list of the date range of one splice info section starting at UTC
/// `start_ms`: `SCTE35-OUT` for a splice out of the network (with `PLANNED-DURATION`
/// from its break duration), `SCTE35-IN` for the return, `SCTE35-CMD` for other commands.
pub fn scte35(info: &SpliceInfo, section: &[u8], start_ms: i64, serial: usize) -> String {
    let hex: String = section.iter().map(|b| format!("{b:02X}")).collect();
    let id = match info.event_id {
        Some(e) => format!("splice-{e}"),
        None => format!("splice-cmd-{serial}"),
    };
    let mut out = format!(
        "ID=\"{id}\",START-DATE=\"{}\"",
        super::ll_playlist::iso8601(start_ms)
    );
    let attr = if info.command_type != SPLICE_INSERT {
        "SCTE35-CMD"
    } else if info.out_of_network {
        if let Some(d) = info.duration_ns() {
            out.push_str(&format!(",PLANNED-DURATION={:.3}", d as f64 / 1e9));
        }
        "SCTE35-OUT"
    } else {
        "SCTE35-IN"
    };
    out.push_str(&format!(",{attr}=0x{hex}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::scte35::{parse_section, splice_insert_section};

    #[test]
    fn a_splice_out_with_its_planned_duration() {
        let s = splice_insert_section(42, 0, Some(30 * 90_000));
        let info = parse_section(&s).unwrap();
        let line = scte35(&info, &s, 1_700_000_000_000, 0);
        assert!(
            line.starts_with("ID=\"splice-42\",START-DATE=\"2023-11-14T22:13:20.000Z\""),
            "{line}"
        );
        assert!(
            line.contains(",PLANNED-DURATION=30.000,SCTE35-OUT=0xFC"),
            "{line}"
        );
        assert!(line.ends_with(&format!("{:02X}", s[s.len() - 1])));
    }
}
