//! Common Encryption on the src pads, as `qtdemux` presents it so GStreamer decryptors
//! work on either: `application/x-cenc` caps, a `GstProtectionMeta` per sample and a
//! protection event per `pssh`.

use crate::boxes::cenc::SampleAux;
use crate::demux::{Pssh, TrackProtection};

/// Where a `pssh` was read, as the protection event's origin names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PsshOrigin {
    Moov,
    Moof,
}

/// The caps of an encrypted track: the original caps renamed `application/x-cenc`, with
/// `original-media-type`, `cipher-mode` and (when the stream has a `pssh`) the first
/// system's UUID as `protection-system`.
pub(super) fn protected_caps(
    caps: &gst::Caps,
    p: &TrackProtection,
    system: Option<&Pssh>,
) -> gst::Caps {
    let mut caps = caps.clone();
    if let Some(s) = caps.make_mut().structure_mut(0) {
        let original = s.name().to_string();
        s.set_name("application/x-cenc");
        s.set("original-media-type", original);
        s.set("cipher-mode", p.scheme_name());
        if let Some(pssh) = system {
            s.set("protection-system", pssh.system_id_string());
        }
    }
    caps
}

/// The caps with `protection-system` set to the system of `pssh`, when they have none
/// (no `pssh` in the `moov`: `qtdemux` takes the first it has read, also in a `moof`).
pub(super) fn with_system(caps: &gst::Caps, pssh: &Pssh) -> Option<gst::Caps> {
    let s = caps.structure(0)?;
    if s.has_field("protection-system") {
        return None;
    }
    let mut caps = caps.clone();
    caps.make_mut()
        .structure_mut(0)?
        .set("protection-system", pssh.system_id_string());
    Some(caps)
}

/// The protection meta's structure for one sample (the fields `qtdemux` sets): `kid`,
/// `iv` (the constant IV where there is no per-sample one) and `iv_size` (its bytes),
/// `encrypted`, `cipher-mode`, `subsample_count` and `subsamples` (a big-endian u16 of
/// clear and u32 of protected bytes per subsample), the pattern as `crypt_byte_block`
/// and `skip_byte_block` when there is one, and `constant_iv_size` with a constant IV.
pub(super) fn sample_info(p: &TrackProtection, aux: Option<&SampleAux>) -> gst::Structure {
    let iv: &[u8] = match aux {
        Some(a) if !a.iv.is_empty() => &a.iv,
        _ => &p.constant_iv,
    };
    let mut s = gst::Structure::builder("application/x-cenc")
        .field("iv_size", iv.len() as u32)
        .field("encrypted", p.protected)
        .field("kid", gst::Buffer::from_slice(p.default_kid))
        .field("cipher-mode", p.scheme_name())
        .build();
    if !iv.is_empty() {
        s.set("iv", gst::Buffer::from_slice(iv.to_vec()));
    }
    if aux.is_none_or(|a| a.iv.is_empty()) && !p.constant_iv.is_empty() {
        s.set("constant_iv_size", p.constant_iv.len() as u32);
    }
    if p.has_pattern() {
        s.set("crypt_byte_block", u32::from(p.crypt_byte_block));
        s.set("skip_byte_block", u32::from(p.skip_byte_block));
    }
    let subsamples = aux.map_or(&[][..], |a| &a.subsamples[..]);
    s.set("subsample_count", subsamples.len() as u32);
    if !subsamples.is_empty() {
        let mut map = Vec::with_capacity(subsamples.len() * 6);
        for sub in subsamples {
            map.extend_from_slice(&sub.clear.to_be_bytes());
            map.extend_from_slice(&sub.protected.to_be_bytes());
        }
        s.set("subsamples", gst::Buffer::from_mut_slice(map));
    }
    s
}

/// The protection event of a `pssh`: its system, the whole box, its origin.
pub(super) fn protection_event(pssh: &Pssh, origin: PsshOrigin) -> gst::Event {
    let data = gst::Buffer::from_slice(pssh.data.clone());
    let origin = match origin {
        PsshOrigin::Moov => "isobmff/moov",
        PsshOrigin::Moof => "isobmff/moof",
    };
    gst::event::Protection::builder(&pssh.system_id_string(), &data)
        .origin(origin)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypt::Subsample;

    fn protection(
        scheme: &[u8; 4],
        iv_size: u8,
        constant: Vec<u8>,
        pattern: (u8, u8),
    ) -> TrackProtection {
        TrackProtection {
            original_format: *b"avc1",
            scheme: *scheme,
            protected: true,
            default_kid: [3; 16],
            per_sample_iv_size: iv_size,
            constant_iv: constant,
            crypt_byte_block: pattern.0,
            skip_byte_block: pattern.1,
        }
    }

    fn bytes(s: &gst::StructureRef, field: &str) -> Vec<u8> {
        s.get::<gst::Buffer>(field)
            .unwrap()
            .map_readable()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn cenc_samples_carry_their_iv_and_map() {
        gst::init().unwrap();
        let aux = SampleAux {
            iv: vec![1, 2, 3, 4, 5, 6, 7, 8],
            subsamples: vec![
                Subsample {
                    clear: 0x0102,
                    protected: 0x0304_0506,
                },
                Subsample {
                    clear: 7,
                    protected: 0,
                },
            ],
        };
        let s = sample_info(&protection(b"cenc", 8, vec![], (0, 0)), Some(&aux));
        assert_eq!(s.name(), "application/x-cenc");
        assert_eq!(bytes(&s, "kid"), [3; 16]);
        assert_eq!(bytes(&s, "iv"), aux.iv);
        assert_eq!(s.get::<u32>("iv_size").unwrap(), 8);
        assert!(s.get::<bool>("encrypted").unwrap());
        assert_eq!(s.get::<String>("cipher-mode").unwrap(), "cenc");
        assert_eq!(s.get::<u32>("subsample_count").unwrap(), 2);
        assert_eq!(
            bytes(&s, "subsamples"),
            [1, 2, 3, 4, 5, 6, 0, 7, 0, 0, 0, 0],
            "big-endian u16 clear + u32 protected"
        );
        for absent in ["crypt_byte_block", "skip_byte_block", "constant_iv_size"] {
            assert!(!s.has_field(absent), "{absent}");
        }
    }

    #[test]
    fn cbcs_samples_carry_the_constant_iv_and_pattern() {
        gst::init().unwrap();
        let p = protection(b"cbcs", 0, vec![9; 16], (1, 9));
        let s = sample_info(&p, Some(&SampleAux::default()));
        assert_eq!(bytes(&s, "iv"), [9; 16]);
        assert_eq!(s.get::<u32>("iv_size").unwrap(), 16);
        assert_eq!(s.get::<u32>("constant_iv_size").unwrap(), 16);
        assert_eq!(s.get::<u32>("crypt_byte_block").unwrap(), 1);
        assert_eq!(s.get::<u32>("skip_byte_block").unwrap(), 9);
        assert_eq!(s.get::<u32>("subsample_count").unwrap(), 0);
        assert!(!s.has_field("subsamples"));
    }

    #[test]
    fn caps_keep_the_original_fields() {
        gst::init().unwrap();
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .build();
        let pssh = Pssh {
            system_id: [0x10; 16],
            data: vec![],
        };
        let p = protection(b"cbcs", 0, vec![9; 16], (1, 9));
        let c = protected_caps(&caps, &p, None);
        let s = c.structure(0).unwrap();
        assert_eq!(s.name(), "application/x-cenc");
        assert_eq!(
            s.get::<String>("original-media-type").unwrap(),
            "video/x-h264"
        );
        assert_eq!(s.get::<String>("stream-format").unwrap(), "avc");
        assert_eq!(s.get::<String>("cipher-mode").unwrap(), "cbcs");
        assert!(!s.has_field("protection-system"));
        let named = with_system(&c, &pssh).expect("a system added");
        assert_eq!(
            named
                .structure(0)
                .unwrap()
                .get::<String>("protection-system")
                .unwrap(),
            "10101010-1010-1010-1010-101010101010"
        );
        assert_eq!(with_system(&named, &pssh), None, "kept once set");
        assert_eq!(protected_caps(&caps, &p, Some(&pssh)), named);
    }
}
