//! Common Encryption (ISO/IEC 23001-7) of samples, without GStreamer: which bytes stay
//! clear ([`subsample`], per codec [`slice_header`] (H.264/H.265 under `cbcs`), [`vp9`]
//! and [`av1`], chosen by [`layout`]) and the AES-128 `cenc`/`cbcs` ciphers ([`cipher`]). The box
//! writing (`sinf`, `senc`, `saiz`, `saio`) and the muxer glue build on these.

pub mod av1;
pub mod cipher;
pub mod layout;
pub mod slice_header;
pub mod subsample;
pub mod vp9;

pub use cipher::{CencIv, SampleEncryptor, Scheme};
pub use layout::SampleLayout;
pub use subsample::{
    NalCodec, Subsample, SubsampleError, nal_subsamples, ranges_subsamples, whole_sample,
};

/// Parses 32 hex digits (a key or KID as properties give them).
pub fn parse_hex16(text: &str) -> Option<[u8; 16]> {
    let t = text.trim();
    if t.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(t.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod tests;
