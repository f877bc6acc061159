//! Common Encryption in the muxer (DESIGN.md wave 2, `encrypt`): the settings checked
//! before the first byte, the protected sample entry, and each chunk's payload
//! encrypted into new memories (clear tracks stay zero-copy) with its `senc` facts.

use gst::glib;
use gst::prelude::*;

use crate::boxes::SampleEntry;
use crate::boxes::cenc::{SampleAux, TrackEncryption, check_pssh, sinf};
use crate::encrypt::{CencIv, SampleEncryptor, SampleLayout, parse_hex16};
use crate::fragmenter::FragmentTrack;

/// The `encryption` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, glib::Enum)]
#[enum_type(name = "GstFragMp4MuxEncryption")]
pub enum Encryption {
    #[default]
    #[enum_value(name = "No encryption", nick = "none")]
    None,
    /// AES-CTR, per-sample IVs (ISO/IEC 23001-7 `cenc`).
    #[enum_value(name = "cenc: AES-CTR with per-sample IVs", nick = "cenc")]
    Cenc,
    /// AES-CBC with a constant IV and a 1:9 pattern on video (`cbcs`, FairPlay/HLS).
    #[enum_value(name = "cbcs: AES-CBC pattern encryption, constant IV", nick = "cbcs")]
    Cbcs,
}

/// What the encryption properties ask for, as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectSettings {
    pub scheme: Encryption,
    pub key_id: Option<String>,
    pub key: Option<String>,
    pub iv: Option<String>,
    pub crypt_byte_block: u8,
    pub skip_byte_block: u8,
    /// Complete `pssh` boxes as base64, comma-separated.
    pub pssh: Option<String>,
    /// Repeat the `pssh` boxes in every `moof`.
    pub pssh_in_fragments: bool,
}

impl Default for ProtectSettings {
    fn default() -> Self {
        Self {
            scheme: Encryption::None,
            key_id: None,
            key: None,
            iv: None,
            crypt_byte_block: 1,
            skip_byte_block: 9,
            pssh: None,
            pssh_in_fragments: false,
        }
    }
}

/// The names of the encryption properties (element and sink pad alike).
pub(crate) const PROPERTY_NAMES: [&str; 8] = [
    "encryption",
    "key-id",
    "key",
    "iv",
    "crypt-byte-block",
    "skip-byte-block",
    "pssh",
    "pssh-in-fragments",
];

impl ProtectSettings {
    /// Sets the property `name` (one of [`PROPERTY_NAMES`]) from `value`.
    pub(crate) fn set(&mut self, name: &str, value: &glib::Value) {
        match name {
            "encryption" => self.scheme = value.get().unwrap_or_default(),
            "key-id" => self.key_id = value.get().unwrap_or(None),
            "key" => self.key = value.get().unwrap_or(None),
            "iv" => self.iv = value.get().unwrap_or(None),
            "crypt-byte-block" => self.crypt_byte_block = value.get::<u32>().unwrap_or(1) as u8,
            "skip-byte-block" => self.skip_byte_block = value.get::<u32>().unwrap_or(9) as u8,
            "pssh" => self.pssh = value.get().unwrap_or(None),
            "pssh-in-fragments" => self.pssh_in_fragments = value.get().unwrap_or(false),
            _ => {}
        }
    }

    /// The value of the property `name`; the key reads back as "(set)", never in the clear.
    pub(crate) fn get(&self, name: &str) -> glib::Value {
        match name {
            "encryption" => self.scheme.to_value(),
            "key-id" => self.key_id.to_value(),
            "key" => self.key.as_ref().map(|_| "(set)".to_string()).to_value(),
            "iv" => self.iv.to_value(),
            "crypt-byte-block" => u32::from(self.crypt_byte_block).to_value(),
            "skip-byte-block" => u32::from(self.skip_byte_block).to_value(),
            "pssh" => self.pssh.to_value(),
            _ => self.pssh_in_fragments.to_value(),
        }
    }

    /// Copies the setting `name` from `from`.
    fn take(&mut self, from: &ProtectSettings, name: &str) {
        match name {
            "encryption" => self.scheme = from.scheme,
            "key-id" => self.key_id = from.key_id.clone(),
            "key" => self.key = from.key.clone(),
            "iv" => self.iv = from.iv.clone(),
            "crypt-byte-block" => self.crypt_byte_block = from.crypt_byte_block,
            "skip-byte-block" => self.skip_byte_block = from.skip_byte_block,
            "pssh" => self.pssh = from.pssh.clone(),
            "pssh-in-fragments" => self.pssh_in_fragments = from.pssh_in_fragments,
            _ => {}
        }
    }
}

/// The encryption settings a sink pad gives its own track: each one set on the pad wins
/// over the element's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PadProtect {
    values: ProtectSettings,
    set: Vec<&'static str>,
}

impl PadProtect {
    /// Sets the pad property `name` (one of [`PROPERTY_NAMES`]).
    pub(crate) fn set(&mut self, name: &str, value: &glib::Value) {
        self.values.set(name, value);
        if let Some(n) = PROPERTY_NAMES.iter().find(|n| **n == name)
            && !self.set.contains(n)
        {
            self.set.push(n);
        }
    }

    /// The pad property `name`: the pad's own value, or the default when unset.
    pub(crate) fn get(&self, name: &str) -> glib::Value {
        self.values.get(name)
    }

    /// The track's settings: the element's, with every setting made on the pad in place.
    pub fn apply(&self, element: &ProtectSettings) -> ProtectSettings {
        let mut out = element.clone();
        for name in &self.set {
            out.take(&self.values, name);
        }
        out
    }
}

/// The encryption properties, shared by `fragmp4mux` and `fragmp4hlssink` (which passes
/// them to its muxer).
pub(crate) fn param_specs() -> Vec<glib::ParamSpec> {
    vec![
    glib::ParamSpecEnum::builder_with_default("encryption", Encryption::None)
        .nick("Encryption")
        .blurb("Common Encryption of every track: none, cenc (AES-CTR) or cbcs (AES-CBC pattern); needs key-id and key")
        .mutable_ready()
        .build(),
    glib::ParamSpecString::builder("key-id")
        .nick("Key ID")
        .blurb("KID of the content key, 32 hex digits (tenc default_KID); changing it while playing starts a new init at the next fragment")
        .mutable_playing()
        .build(),
    glib::ParamSpecString::builder("key")
        .nick("Key")
        .blurb("The AES-128 content key, 32 hex digits; changing it while playing starts a new init at the next fragment")
        .mutable_playing()
        .build(),
    glib::ParamSpecString::builder("iv")
        .nick("IV")
        .blurb("cenc: 16 hex digits (8-byte IV, +1 per sample) or 32 (16 bytes); cbcs: 32 hex digits, the constant IV; unset: random from the OS")
        .mutable_playing()
        .build(),
    glib::ParamSpecUInt::builder("crypt-byte-block")
        .nick("Crypt byte block")
        .blurb("cbcs video pattern: encrypted 16-byte blocks per pattern")
        .maximum(15)
        .default_value(1)
        .mutable_ready()
        .build(),
    glib::ParamSpecUInt::builder("skip-byte-block")
        .nick("Skip byte block")
        .blurb("cbcs video pattern: clear 16-byte blocks per pattern")
        .maximum(15)
        .default_value(9)
        .mutable_ready()
        .build(),
    glib::ParamSpecString::builder("pssh")
        .nick("PSSH boxes")
        .blurb("Complete pssh boxes, base64, comma-separated, written into the moov")
        .mutable_playing()
        .build(),
    glib::ParamSpecBoolean::builder("pssh-in-fragments")
        .nick("PSSH in fragments")
        .blurb("Repeat the pssh boxes in every moof (for players that join mid-stream)")
        .default_value(false)
        .mutable_ready()
        .build(),
    ]
}

/// A setting that cannot be used, named so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectError {
    #[error("{0} must be 32 hex digits (16 bytes)")]
    BadHex(&'static str),
    #[error("iv must be 16 hex digits (8 bytes, cenc) or 32 (16 bytes), got {0} characters")]
    BadIv(usize),
    #[error("cbcs needs a 16-byte iv (the constant IV)")]
    CbcsIv,
    #[error("cbcs with a 0:0 pattern on video: set crypt-byte-block and skip-byte-block (1:9)")]
    NoPattern,
    #[error("key-id and key are needed for encryption")]
    Missing,
    #[error("pssh: {0}")]
    Pssh(String),
    #[error("{0}: no subsample rules for this codec; leave the track clear")]
    Codec(String),
    #[error("{0}: its codec configuration cannot be used for encryption: {1}")]
    Config(String, String),
    #[error("no random IV from the operating system: {0}")]
    Random(String),
    #[error("encryption needs mode=fragmented (progressive and hybrid files have no senc)")]
    Mode,
    #[error("sample {index}: {why}")]
    Sample { index: usize, why: String },
}

/// How one track is protected.
pub struct TrackProtection {
    pub tenc: TrackEncryption,
    encryptor: SampleEncryptor,
    /// Which bytes of each sample stay clear, with the codec parser state that needs.
    layout: SampleLayout,
}

fn hex(text: &Option<String>, what: &'static str) -> Result<[u8; 16], ProtectError> {
    text.as_deref()
        .map(parse_hex16)
        .ok_or(ProtectError::Missing)?
        .ok_or(ProtectError::BadHex(what))
}

/// Decodes the `pssh` property (base64 of whole boxes, comma-separated) and checks
/// each box.
pub fn decode_pssh(list: Option<&str>) -> Result<Vec<Vec<u8>>, ProtectError> {
    list.unwrap_or("")
        .split(',')
        .filter(|b| !b.trim().is_empty())
        .map(|b64| {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| ProtectError::Pssh(format!("not base64: {e}")))?;
            check_pssh(&bytes).map_err(|e| ProtectError::Pssh(e.to_string()))?;
            Ok(bytes)
        })
        .collect()
}

/// Checks what can be checked of `s` before the stream's formats are known (the state
/// change to PAUSED): the mode, the key, KID, IV and pssh boxes.
pub fn check(s: &ProtectSettings, fragmented: bool) -> Result<(), ProtectError> {
    decode_pssh(s.pssh.as_deref())?;
    if s.scheme == Encryption::None {
        return Ok(());
    }
    if !fragmented {
        return Err(ProtectError::Mode);
    }
    hex(&s.key_id, "key-id")?;
    hex(&s.key, "key")?;
    match s.iv.as_deref().map(str::trim).map(str::len) {
        Some(n) if n != 16 && n != 32 => Err(ProtectError::BadIv(n)),
        Some(16) if s.scheme == Encryption::Cbcs => Err(ProtectError::CbcsIv),
        _ => Ok(()),
    }
}

impl TrackProtection {
    /// The protection of a track with sample entry `entry` (NAL length size for AVC/HEVC),
    /// or `None` when `encryption=none`.
    pub fn new(
        s: &ProtectSettings,
        entry: &SampleEntry,
        nal_length_size: Option<u8>,
        is_video: bool,
    ) -> Result<Option<TrackProtection>, ProtectError> {
        let cbcs = match s.scheme {
            Encryption::None => return Ok(None),
            Encryption::Cenc => false,
            Encryption::Cbcs => true,
        };
        let kid = hex(&s.key_id, "key-id")?;
        let key = hex(&s.key, "key")?;
        let iv: Vec<u8> = match s.iv.as_deref().map(str::trim) {
            Some(t) if t.len() == 16 || t.len() == 32 => (0..t.len() / 2)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16))
                .collect::<Result<_, _>>()
                .map_err(|_| ProtectError::BadHex("iv"))?,
            Some(t) => return Err(ProtectError::BadIv(t.len())),
            None => random_iv(if cbcs { 16 } else { 8 })?,
        };
        let name = || String::from_utf8_lossy(&entry.fourcc).to_string();
        let config = entry
            .children
            .iter()
            .find(|c| matches!(&c.fourcc, b"avcC" | b"hvcC" | b"av1C"))
            .map_or(&[][..], |c| c.body.as_slice());
        let layout = SampleLayout::new(&entry.fourcc, config, nal_length_size, is_video, cbcs)
            .map_err(|e| ProtectError::Config(name(), e.to_string()))?
            .ok_or_else(|| ProtectError::Codec(name()))?;
        let (crypt, skip) = if is_video {
            (s.crypt_byte_block, s.skip_byte_block)
        } else {
            (0, 0)
        };
        let (encryptor, tenc) = if cbcs {
            let Ok(constant) = <[u8; 16]>::try_from(iv.as_slice()) else {
                return Err(ProtectError::CbcsIv);
            };
            if is_video && crypt == 0 && skip == 0 {
                return Err(ProtectError::NoPattern);
            }
            (
                SampleEncryptor::cbcs(key, constant, crypt, skip),
                TrackEncryption {
                    scheme: *b"cbcs",
                    default_kid: kid,
                    per_sample_iv_size: 0,
                    constant_iv: Some(constant),
                    crypt_byte_block: crypt,
                    skip_byte_block: skip,
                },
            )
        } else {
            let civ = match <[u8; 8]>::try_from(iv.as_slice()) {
                Ok(e) => CencIv::Eight(e),
                Err(_) => CencIv::Sixteen(
                    iv.as_slice()
                        .try_into()
                        .map_err(|_| ProtectError::BadIv(iv.len() * 2))?,
                ),
            };
            (
                SampleEncryptor::cenc(key, civ),
                TrackEncryption {
                    scheme: *b"cenc",
                    default_kid: kid,
                    per_sample_iv_size: iv.len() as u8,
                    constant_iv: None,
                    crypt_byte_block: 0,
                    skip_byte_block: 0,
                },
            )
        };
        Ok(Some(TrackProtection {
            tenc,
            encryptor,
            layout,
        }))
    }

    /// The sample entry as an encrypted track shows it: `encv`/`enca` with a `sinf`.
    pub fn protect_entry(&self, entry: &SampleEntry, is_video: bool) -> SampleEntry {
        let mut e = entry.clone();
        e.children.push(sinf(entry.fourcc, &self.tenc));
        e.fourcc = if is_video { *b"encv" } else { *b"enca" };
        e
    }

    /// Encrypts the track's part of a chunk: every payload is copied once into a new
    /// buffer and encrypted; returns each sample's `senc` entry.
    pub fn protect(
        &mut self,
        track: &mut FragmentTrack<gst::Buffer>,
    ) -> Result<Vec<SampleAux>, ProtectError> {
        let mut aux = Vec::with_capacity(track.payloads.len());
        for (index, payload) in track.payloads.iter_mut().enumerate() {
            let mut data = Vec::with_capacity(payload.size());
            for m in payload.iter_memories() {
                let map = m.map_readable().map_err(|_| ProtectError::Sample {
                    index,
                    why: "not readable".into(),
                })?;
                data.extend_from_slice(&map);
            }
            let map = self.layout.map(&data).map_err(|e| ProtectError::Sample {
                index,
                why: e.to_string(),
            })?;
            let iv = self.encryptor.encrypt(&mut data, &map);
            let mut out = gst::Buffer::from_mut_slice(data);
            if let Some(b) = out.get_mut() {
                let _ = payload.copy_into(
                    b,
                    gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS,
                    ..,
                );
            }
            *payload = out;
            aux.push(SampleAux {
                iv,
                subsamples: if self.layout.has_map() {
                    map
                } else {
                    Vec::new()
                },
            });
        }
        Ok(aux)
    }
}

/// `n` random bytes from the operating system.
fn random_iv(n: usize) -> Result<Vec<u8>, ProtectError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| ProtectError::Random(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pad_setting_wins_and_an_unset_one_inherits() {
        let element = ProtectSettings {
            scheme: Encryption::Cenc,
            key_id: Some("a".repeat(32)),
            key: Some("b".repeat(32)),
            ..Default::default()
        };
        let mut pad = PadProtect::default();
        assert_eq!(pad.apply(&element), element, "nothing set: the element's");
        pad.set("key", &Some("c".repeat(32)).to_value());
        pad.set("skip-byte-block", &5u32.to_value());
        let track = pad.apply(&element);
        assert_eq!(track.key.as_deref(), Some("c".repeat(32).as_str()));
        assert_eq!(track.skip_byte_block, 5);
        assert_eq!(track.key_id, element.key_id, "unset on the pad: inherited");
        assert_eq!(track.scheme, Encryption::Cenc);
        // Set back to none on the pad: that track is clear whatever the element says.
        pad.set("encryption", &Encryption::None.to_value());
        assert_eq!(pad.apply(&element).scheme, Encryption::None);
        assert_eq!(
            pad.get("key").get::<Option<String>>().unwrap().as_deref(),
            Some("(set)")
        );
    }

    #[test]
    fn settings_are_checked_before_the_formats_are_known() {
        let ok = ProtectSettings {
            scheme: Encryption::Cbcs,
            key_id: Some("0".repeat(32)),
            key: Some("1".repeat(32)),
            ..Default::default()
        };
        assert_eq!(check(&ok, true), Ok(()));
        assert_eq!(check(&ok, false), Err(ProtectError::Mode));
        let short_iv = ProtectSettings {
            iv: Some("0".repeat(16)),
            ..ok.clone()
        };
        assert_eq!(check(&short_iv, true), Err(ProtectError::CbcsIv));
        let bad_kid = ProtectSettings {
            key_id: Some("xyz".into()),
            ..ok.clone()
        };
        assert_eq!(check(&bad_kid, true), Err(ProtectError::BadHex("key-id")));
        assert_eq!(
            check(&ProtectSettings::default(), false),
            Ok(()),
            "clear: anything goes"
        );
    }
}
