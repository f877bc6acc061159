//! The language of a track from the `language-code` tag (GST_TAG_LANGUAGE_CODE: ISO 639-1
//! or ISO 639-2, sometimes with a region, `en`, `deu`, `ger`, `pt-BR`, `en_US`): the ISO
//! 639-2/T code `mdhd` packs, and the BCP 47 tag `elng` and the playlists carry. GStreamer's
//! own ISO 639 tables (libgsttag) map between the forms.

use crate::boxes::Language;

/// Why a tag gives no language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LanguageError {
    /// Not an ISO 639 code GStreamer knows, nor a three-letter code of its own.
    #[error("language code {0:?} is not an ISO 639-1 or ISO 639-2 code")]
    Unknown(String),
}

/// The language of the tag `code`. The primary subtag (before `-` or `_`) is the ISO 639
/// code; what follows (a region, a script) is kept in the BCP 47 form only. BCP 47 uses
/// the two-letter code where ISO 639-1 has one (`deu` and `ger` are `de`).
pub fn from_tag(code: &str) -> Result<Language, LanguageError> {
    let code = code.trim();
    let (primary, rest) = match code.find(['-', '_']) {
        Some(at) => (&code[..at], Some(&code[at + 1..])),
        None => (code, None),
    };
    let primary = primary.to_ascii_lowercase();
    let unknown = || LanguageError::Unknown(code.to_string());
    let three_letters = |s: &str| s.len() == 3 && s.bytes().all(|b| b.is_ascii_lowercase());
    // ISO 639 codes are two or three letters (GStreamer's lookup answers even for "").
    if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(unknown());
    }
    let iso639_2t = match gst_tag::language_codes::language_code_iso_639_2t(&primary) {
        Some(t) if three_letters(t.as_str()) => t.as_str().to_string(),
        // A three-letter code outside GStreamer's table (e.g. `qaa`-`qtz`, local use) is
        // written as it is; a two-letter one it does not know is no code.
        _ if three_letters(&primary) => primary.clone(),
        _ => return Err(unknown()),
    };
    let short = gst_tag::language_codes::language_code_iso_639_1(&primary)
        .map(|s| s.as_str().to_string())
        .unwrap_or(primary);
    let mut bcp47 = short;
    if let Some(rest) = rest.filter(|r| !r.is_empty()) {
        for sub in rest.split(['-', '_']) {
            if sub.is_empty() || !sub.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(unknown());
            }
            bcp47.push('-');
            // BCP 47 case conventions: regions upper case, scripts title case.
            match sub.len() {
                2 => bcp47.push_str(&sub.to_ascii_uppercase()),
                4 => {
                    bcp47.push_str(&sub[..1].to_ascii_uppercase());
                    bcp47.push_str(&sub[1..].to_ascii_lowercase());
                }
                _ => bcp47.push_str(&sub.to_ascii_lowercase()),
            }
        }
    }
    let b = iso639_2t.as_bytes();
    Ok(Language {
        iso639_2t: [b[0], b[1], b[2]],
        bcp47,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(code: &str) -> (String, String) {
        let l = from_tag(code).unwrap();
        (String::from_utf8(l.iso639_2t.to_vec()).unwrap(), l.bcp47)
    }

    #[test]
    fn iso_639_1_and_2_codes_map_both_ways() {
        assert_eq!(both("en"), ("eng".into(), "en".into()));
        assert_eq!(both("de"), ("deu".into(), "de".into()));
        // The bibliographic code becomes the terminology one; BCP 47 takes the short one.
        assert_eq!(both("ger"), ("deu".into(), "de".into()));
        assert_eq!(both("fre"), ("fra".into(), "fr".into()));
        assert_eq!(both("FRA"), ("fra".into(), "fr".into()));
        // No ISO 639-1 code: the three letters are the BCP 47 tag too.
        assert_eq!(both("haw"), ("haw".into(), "haw".into()));
    }

    #[test]
    fn regions_stay_in_the_bcp47_tag() {
        assert_eq!(both("pt-BR"), ("por".into(), "pt-BR".into()));
        assert_eq!(both("en_us"), ("eng".into(), "en-US".into()));
        assert_eq!(both("zh-hant"), ("zho".into(), "zh-Hant".into()));
    }

    #[test]
    fn what_is_no_language_code() {
        assert!(from_tag("xx").is_err());
        assert!(from_tag("english").is_err());
        assert!(from_tag("").is_err());
        assert!(from_tag("en-").is_ok());
        assert!(from_tag("en-U S").is_err());
    }

    #[test]
    fn mdhd_packs_five_bits_per_letter() {
        // ISO/IEC 14496-12 8.4.2.3: each letter minus 0x60, `und` is 0x55c4.
        assert_eq!(from_tag("und").unwrap().packed(), 0x55c4);
        assert_eq!(from_tag("en").unwrap().packed(), 0x15c7);
    }
}
