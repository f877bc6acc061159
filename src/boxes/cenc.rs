//! Common Encryption boxes (ISO/IEC 23001-7): the protection scheme of a sample entry
//! (`sinf` with `frma`, `schm` and `tenc`), `pssh` checks, and a fragment's sample
//! auxiliary information (`senc`, `saiz`, `saio`).

use super::writer::BoxWriter;
use super::{ChildBox, FourCc};
use crate::encrypt::Subsample;

/// What `tenc` says of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackEncryption {
    /// `cenc` or `cbcs`.
    pub scheme: FourCc,
    pub default_kid: [u8; 16],
    /// Bytes of each sample's IV in `senc` (8 or 16); 0 with a constant IV.
    pub per_sample_iv_size: u8,
    /// cbcs: the IV every sample uses.
    pub constant_iv: Option<[u8; 16]>,
    /// cbcs pattern (0:0 for whole-block encryption).
    pub crypt_byte_block: u8,
    pub skip_byte_block: u8,
}

/// The `sinf` that turns a sample entry of `original` format into `encv`/`enca`.
pub fn sinf(original: FourCc, t: &TrackEncryption) -> ChildBox {
    let mut w = BoxWriter::with_capacity(96);
    let frma = w.begin(*b"frma");
    w.bytes(&original);
    w.end(frma);
    let schm = w.begin_full(*b"schm", 0, 0);
    w.bytes(&t.scheme);
    w.u32(0x0001_0000);
    w.end(schm);
    let schi = w.begin(*b"schi");
    let pattern = t.crypt_byte_block != 0 || t.skip_byte_block != 0;
    // Version 1 carries the pattern (cbcs); version 0 has reserved bytes there.
    let tenc = w.begin_full(*b"tenc", u8::from(pattern || &t.scheme == b"cbcs"), 0);
    w.u8(0); // reserved
    w.u8((t.crypt_byte_block << 4) | (t.skip_byte_block & 0x0f));
    w.u8(1); // default_isProtected
    w.u8(t.per_sample_iv_size);
    w.bytes(&t.default_kid);
    if t.per_sample_iv_size == 0
        && let Some(iv) = t.constant_iv
    {
        w.u8(16);
        w.bytes(&iv);
    }
    w.end(tenc);
    w.end(schi);
    ChildBox {
        fourcc: *b"sinf",
        full: None,
        body: w.into_bytes(),
    }
}

/// Why a `pssh` given as a property is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsshError {
    #[error("a pssh box needs at least 32 bytes, got {0}")]
    TooShort(usize),
    #[error("its size field says {said} bytes, the data has {have}")]
    SizeMismatch { said: usize, have: usize },
    #[error("its type is '{0}', not 'pssh'")]
    NotPssh(String),
    #[error("version {0} is not 0 or 1")]
    Version(u8),
    #[error("its KID count or data size runs past the box")]
    Overrun,
}

/// Checks that `data` is exactly one well-formed `pssh` box (version 0 or 1).
pub fn check_pssh(data: &[u8]) -> Result<(), PsshError> {
    if data.len() < 32 {
        return Err(PsshError::TooShort(data.len()));
    }
    let be32 = |at: usize| -> Option<usize> {
        data.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let said = be32(0).unwrap_or(0);
    if said != data.len() {
        return Err(PsshError::SizeMismatch {
            said,
            have: data.len(),
        });
    }
    if &data[4..8] != b"pssh" {
        return Err(PsshError::NotPssh(
            String::from_utf8_lossy(&data[4..8]).to_string(),
        ));
    }
    let version = data[8];
    let mut pos = 12 + 16; // full box header, SystemID
    if version == 1 {
        let kids = be32(pos).ok_or(PsshError::Overrun)?;
        pos += 4 + kids.checked_mul(16).ok_or(PsshError::Overrun)?;
    } else if version != 0 {
        return Err(PsshError::Version(version));
    }
    let size = be32(pos).ok_or(PsshError::Overrun)?;
    if pos + 4 + size != data.len() {
        return Err(PsshError::Overrun);
    }
    Ok(())
}

/// One sample's auxiliary information: its IV (empty with a constant IV) and map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleAux {
    pub iv: Vec<u8>,
    /// Empty for whole-sample encryption.
    pub subsamples: Vec<Subsample>,
}

impl SampleAux {
    fn len(&self) -> usize {
        self.iv.len()
            + if self.subsamples.is_empty() {
                0
            } else {
                2 + 6 * self.subsamples.len()
            }
    }
}

/// Writes `saiz`, `saio` and `senc` into the open `traf` of a `moof` that starts at
/// `moof_start` in `w`: `saio` points (from the `moof`, as default-base-is-moof has
/// it) at the first sample's entry in `senc`.
pub fn write_aux(w: &mut BoxWriter, moof_start: usize, aux: &[SampleAux]) {
    let with_subsamples = aux.iter().any(|a| !a.subsamples.is_empty());
    let sizes: Vec<usize> = aux.iter().map(SampleAux::len).collect();
    if sizes.iter().all(|&s| s == 0) {
        // Constant IV, whole samples: no auxiliary information to point at, only the
        // sample count in `senc` (as shaka-packager writes cbcs audio).
        let senc = w.begin_full(*b"senc", 0, 0);
        w.u32(aux.len() as u32);
        w.end(senc);
        return;
    }
    let saiz = w.begin_full(*b"saiz", 0, 0);
    match sizes.first() {
        // A default of 0 would announce a table, so equal sizes of 0 get one too.
        Some(&s) if s > 0 && s <= 255 && sizes.iter().all(|&x| x == s) => {
            w.u8(s as u8);
            w.u32(aux.len() as u32);
        }
        _ => {
            w.u8(0);
            w.u32(aux.len() as u32);
            for &s in &sizes {
                w.u8(s.min(255) as u8);
            }
        }
    }
    w.end(saiz);
    let saio = w.begin_full(*b"saio", 0, 0);
    w.u32(1);
    let offset = w.reserve_u32();
    w.end(saio);
    let senc = w.begin_full(*b"senc", 0, if with_subsamples { 2 } else { 0 });
    w.u32(aux.len() as u32);
    let first_entry = w.len() - moof_start;
    for a in aux {
        w.bytes(&a.iv);
        if with_subsamples {
            w.u16(a.subsamples.len() as u16);
            for s in &a.subsamples {
                w.u16(s.clear);
                w.u32(s.protected);
            }
        }
    }
    w.end(senc);
    w.patch_u32(offset, first_entry as u32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pssh_boxes_are_checked_whole() {
        let mut p = vec![0, 0, 0, 36, b'p', b's', b's', b'h', 0, 0, 0, 0];
        p.extend([0x10; 16]);
        p.extend([0, 0, 0, 4, 1, 2, 3, 4]);
        assert_eq!(check_pssh(&p), Ok(()));
        let mut bad = p.clone();
        bad[35] = 9;
        bad.push(0);
        assert!(check_pssh(&bad).is_err());
        let mut v1 = vec![0, 0, 0, 52, b'p', b's', b's', b'h', 1, 0, 0, 0];
        v1.extend([0x10; 16]);
        v1.extend([0, 0, 0, 1]);
        v1.extend([0x22; 16]);
        v1.extend([0, 0, 0, 0]);
        assert_eq!(check_pssh(&v1), Ok(()));
        assert_eq!(check_pssh(&v1[..20]), Err(PsshError::TooShort(20)));
        let mut wrong = p.clone();
        wrong[4..8].copy_from_slice(b"free");
        assert!(matches!(check_pssh(&wrong), Err(PsshError::NotPssh(_))));
    }

    #[test]
    fn tenc_carries_the_pattern_and_constant_iv_for_cbcs() {
        let t = TrackEncryption {
            scheme: *b"cbcs",
            default_kid: [7; 16],
            per_sample_iv_size: 0,
            constant_iv: Some([9; 16]),
            crypt_byte_block: 1,
            skip_byte_block: 9,
        };
        let s = sinf(*b"avc1", &t);
        let b = &s.body;
        assert_eq!(&b[4..8], b"frma");
        assert_eq!(&b[8..12], b"avc1");
        assert_eq!(&b[16..20], b"schm");
        assert_eq!(&b[24..28], b"cbcs");
        let tenc = b.windows(4).position(|w| w == b"tenc").unwrap();
        assert_eq!(b[tenc + 4], 1, "version 1");
        assert_eq!(b[tenc + 9], 0x19, "crypt 1, skip 9");
        assert_eq!(b[tenc + 11], 0, "no per-sample IV");
        assert_eq!(b[tenc + 28], 16, "constant IV size");
        assert_eq!(&b[tenc + 29..tenc + 45], &[9; 16]);
    }

    #[test]
    fn saio_points_at_the_first_senc_entry() {
        let mut w = BoxWriter::with_capacity(256);
        let moof = w.begin(*b"moof");
        let traf = w.begin(*b"traf");
        let aux = vec![
            SampleAux {
                iv: vec![1; 8],
                subsamples: vec![Subsample {
                    clear: 5,
                    protected: 32,
                }],
            },
            SampleAux {
                iv: vec![2; 8],
                subsamples: vec![
                    Subsample {
                        clear: 5,
                        protected: 16,
                    },
                    Subsample {
                        clear: 3,
                        protected: 0,
                    },
                ],
            },
        ];
        write_aux(&mut w, 0, &aux);
        w.end(traf);
        w.end(moof);
        let b = w.into_bytes();
        let saiz = b.windows(4).position(|x| x == b"saiz").unwrap() - 4;
        assert_eq!(b[saiz + 12], 0, "sizes differ: listed");
        assert_eq!(&b[saiz + 17..saiz + 19], &[16, 22]);
        let saio = b.windows(4).position(|x| x == b"saio").unwrap() - 4;
        let offset = u32::from_be_bytes(b[saio + 16..saio + 20].try_into().unwrap()) as usize;
        assert_eq!(&b[offset..offset + 8], &[1; 8], "first IV");
        assert_eq!(&b[offset + 8..offset + 10], &[0, 1], "one subsample");
    }
}
