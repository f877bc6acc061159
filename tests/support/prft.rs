//! `prft` boxes as mp4-atom reads them, each with the `tfdt` of its reference track in
//! the `moof` that follows it.

use mp4_atom::{Any, Decode, Moof, Prft};

use super::mp4::top_level_boxes;

/// One `prft` and what follows it.
#[derive(Debug, Clone)]
pub struct PrftAt {
    pub prft: Prft,
    /// The version byte of the box.
    pub version: u8,
    /// `tfdt` of the reference track in the next `moof` (None: no such traf).
    pub next_tfdt: Option<u64>,
    /// Boxes between the `prft` and that `moof` (e.g. `emsg`).
    pub between: Vec<String>,
}

/// Nanoseconds since the Unix epoch of an NTP timestamp (RFC 5905: seconds since 1900
/// in the high 32 bits, a binary fraction below).
pub fn unix_ns(ntp: u64) -> i128 {
    let secs = i128::from(ntp >> 32) - 2_208_988_800;
    secs * 1_000_000_000 + ((i128::from(ntp & 0xffff_ffff) * 1_000_000_000) >> 32)
}

/// Every `prft` at the top level of `data`, in order.
pub fn prfts(data: &[u8]) -> Vec<PrftAt> {
    let boxes = top_level_boxes(data);
    let mut out = Vec::new();
    for (i, (kind, at, size)) in boxes.iter().enumerate() {
        if kind != "prft" {
            continue;
        }
        let bytes = &data[*at..at + size];
        let prft = Prft::try_from(Any::decode(&mut &bytes[..]).expect("mp4-atom decodes prft"))
            .expect("a prft");
        let mut between = Vec::new();
        let mut next_tfdt = None;
        for (k, a, s) in &boxes[i + 1..] {
            if k == "moof" {
                let moof = Moof::try_from(Any::decode(&mut &data[*a..a + s]).unwrap()).unwrap();
                next_tfdt = moof
                    .traf
                    .iter()
                    .find(|t| t.tfhd.track_id == prft.reference_track_id)
                    .and_then(|t| t.tfdt.as_ref())
                    .map(|t| t.base_media_decode_time);
                break;
            }
            between.push(k.clone());
        }
        out.push(PrftAt {
            prft,
            version: bytes[8],
            next_tfdt,
            between,
        });
    }
    out
}
