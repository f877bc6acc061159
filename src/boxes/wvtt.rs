//! WebVTT in ISO BMFF (ISO/IEC 14496-30): the `wvtt` sample entry with its `vttC`, and
//! the samples: one `vttc` box per cue active over the sample (`iden`, `sttg`, `payl`),
//! or one `vtte` box when no cue is.

use super::writer::BoxWriter;

/// The configuration a `vttC` box carries: the WebVTT file header without any cue.
pub const DEFAULT_CONFIG: &str = "WEBVTT";

/// Appends a `wvtt` sample entry (a plain text sample entry, data reference 1) with a
/// `vttC` of `config`.
pub fn write_wvtt_entry(w: &mut BoxWriter, config: &str) {
    let b = w.begin(*b"wvtt");
    w.zeros(6);
    w.u16(1); // data_reference_index
    let c = w.begin(*b"vttC");
    w.bytes(config.as_bytes());
    w.end(c);
    w.end(b);
}

/// The body of one cue in a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueBox<'a> {
    /// Cue identifier (`iden`), if the cue has one.
    pub id: Option<&'a str>,
    /// Cue settings (`sttg`), e.g. `line:0 align:start`.
    pub settings: Option<&'a str>,
    /// Cue payload text (`payl`), WebVTT cue text.
    pub text: &'a str,
}

/// The bytes of one sample: a `vttc` per cue, in order, or a `vtte` without cues.
pub fn sample(cues: &[CueBox<'_>]) -> Vec<u8> {
    let mut w =
        BoxWriter::with_capacity(16 + cues.iter().map(|c| 32 + c.text.len()).sum::<usize>());
    if cues.is_empty() {
        let b = w.begin(*b"vtte");
        w.end(b);
        return w.into_bytes();
    }
    for cue in cues {
        let b = w.begin(*b"vttc");
        if let Some(id) = cue.id.filter(|s| !s.is_empty()) {
            let i = w.begin(*b"iden");
            w.bytes(id.as_bytes());
            w.end(i);
        }
        if let Some(s) = cue.settings.filter(|s| !s.is_empty()) {
            let i = w.begin(*b"sttg");
            w.bytes(s.as_bytes());
            w.end(i);
        }
        let p = w.begin(*b"payl");
        w.bytes(cue.text.as_bytes());
        w.end(p);
        w.end(b);
    }
    w.into_bytes()
}

/// One cue of a sample as read back: its `payl` text (`iden`, `sttg` dropped).
/// `None` when the sample is malformed (a box size past its end, text not UTF-8).
pub fn read_sample(data: &[u8]) -> Option<Vec<String>> {
    fn boxes(mut data: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let size = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?) as usize;
            let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
            if size < 8 {
                return None;
            }
            out.push((kind, data.get(8..size)?));
            data = &data[size..];
        }
        Some(out)
    }
    let mut cues = Vec::new();
    for (kind, body) in boxes(data)? {
        if &kind != b"vttc" {
            continue;
        }
        for (child, text) in boxes(body)? {
            if &child == b"payl" {
                cues.push(std::str::from_utf8(text).ok()?.to_string());
            }
        }
    }
    Some(cues)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mp4_atom::{Any, Decode};

    #[test]
    fn the_sample_entry_reads_back() {
        let mut w = BoxWriter::default();
        write_wvtt_entry(&mut w, DEFAULT_CONFIG);
        let b = w.into_bytes();
        let any = Any::decode(&mut &b[..]).expect("mp4-atom reads wvtt");
        let Any::Wvtt(wvtt) = any else {
            panic!("not a wvtt: {any:?}");
        };
        assert_eq!(wvtt.config.config, "WEBVTT");
    }

    #[test]
    fn samples_read_back() {
        let s = sample(&[
            CueBox {
                id: Some("c1"),
                settings: Some("align:start"),
                text: "Hello",
            },
            CueBox {
                id: None,
                settings: None,
                text: "world",
            },
        ]);
        assert_eq!(read_sample(&s), Some(vec!["Hello".into(), "world".into()]));
        assert_eq!(read_sample(&sample(&[])), Some(vec![]));
        assert_eq!(read_sample(&s[..s.len() - 1]), None);
    }

    #[test]
    fn cues_and_gaps() {
        assert_eq!(sample(&[]), vec![0, 0, 0, 8, b'v', b't', b't', b'e']);
        let s = sample(&[
            CueBox {
                id: Some("c1"),
                settings: Some("align:start"),
                text: "Hello",
            },
            CueBox {
                id: None,
                settings: None,
                text: "<i>world</i>",
            },
        ]);
        // vttc(iden(c1) sttg(align:start) payl(Hello)) vttc(payl(<i>world</i>))
        let first = u32::from_be_bytes(s[0..4].try_into().unwrap()) as usize;
        assert_eq!(&s[4..8], b"vttc");
        assert_eq!(first, 8 + (8 + 2) + (8 + 11) + (8 + 5));
        assert_eq!(&s[12..16], b"iden");
        assert_eq!(&s[16..18], b"c1");
        assert_eq!(&s[22..26], b"sttg");
        assert_eq!(&s[41..45], b"payl");
        assert_eq!(&s[45..50], b"Hello");
        let second = &s[first..];
        assert_eq!(&second[4..8], b"vttc");
        assert_eq!(&second[12..16], b"payl");
        assert_eq!(&second[16..], b"<i>world</i>");
        assert_eq!(
            u32::from_be_bytes(second[0..4].try_into().unwrap()) as usize,
            second.len()
        );
    }
}
