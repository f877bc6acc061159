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
