//! Sample encryption with AES-128 (RustCrypto `aes`, AES-NI where the CPU has it): the
//! `cenc` scheme (CTR, one keystream over a sample's protected bytes, a fresh counter
//! block per sample) and `cbcs` (CBC with a constant IV and a crypt:skip pattern of
//! 16-byte blocks, restarted at each subsample).

use aes::Aes128Enc;
use aes::cipher::{
    BlockEncryptMut, InnerIvInit, KeyInit, StreamCipher, generic_array::GenericArray,
};

use super::subsample::Subsample;

type Ctr = ctr::Ctr128BE<Aes128Enc>;
type CbcEnc = cbc::Encryptor<Aes128Enc>;

/// The protection scheme of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Cenc,
    Cbcs { crypt: u8, skip: u8 },
}

/// The IV sequence of a `cenc` track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CencIv {
    /// 8 bytes: the counter block is IV || block count; the IV increments per sample.
    Eight([u8; 8]),
    /// 16 bytes: the counter block itself, advanced past every block a sample used.
    Sixteen([u8; 16]),
}

/// Encrypts a track's samples in order, keeping its IV state.
pub struct SampleEncryptor {
    /// The expanded key, made once: each sample's cipher starts from a copy of it.
    key: Aes128Enc,
    scheme: Scheme,
    cenc_iv: CencIv,
    /// cbcs: the constant IV.
    constant_iv: [u8; 16],
}

impl SampleEncryptor {
    pub fn cenc(key: [u8; 16], iv: CencIv) -> Self {
        Self {
            key: Aes128Enc::new(&key.into()),
            scheme: Scheme::Cenc,
            cenc_iv: iv,
            constant_iv: [0; 16],
        }
    }

    pub fn cbcs(key: [u8; 16], constant_iv: [u8; 16], crypt: u8, skip: u8) -> Self {
        Self {
            key: Aes128Enc::new(&key.into()),
            scheme: Scheme::Cbcs { crypt, skip },
            cenc_iv: CencIv::Eight([0; 8]),
            constant_iv,
        }
    }

    /// Encrypts `data` in place as `map` says; returns the sample's IV for `senc`
    /// (empty for cbcs, whose IV is constant and lives in `tenc`).
    pub fn encrypt(&mut self, data: &mut [u8], map: &[Subsample]) -> Vec<u8> {
        match self.scheme {
            Scheme::Cenc => self.encrypt_ctr(data, map),
            Scheme::Cbcs { crypt, skip } => {
                let mut pos = 0;
                for s in map {
                    pos += usize::from(s.clear);
                    let end = (pos + s.protected as usize).min(data.len());
                    pattern_cbc(
                        &self.key,
                        &self.constant_iv,
                        &mut data[pos..end],
                        crypt,
                        skip,
                    );
                    pos = end;
                }
                Vec::new()
            }
        }
    }

    fn encrypt_ctr(&mut self, data: &mut [u8], map: &[Subsample]) -> Vec<u8> {
        let (block, sample_iv) = match self.cenc_iv {
            CencIv::Eight(iv) => {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&iv);
                (b, iv.to_vec())
            }
            CencIv::Sixteen(iv) => (iv, iv.to_vec()),
        };
        let mut cipher =
            Ctr::from_core(ctr::CtrCore::inner_iv_init(self.key.clone(), &block.into()));
        let mut pos = 0;
        let mut protected = 0u64;
        for s in map {
            pos += usize::from(s.clear);
            let end = (pos + s.protected as usize).min(data.len());
            // One keystream across the sample's protected ranges.
            cipher.apply_keystream(&mut data[pos..end]);
            protected += (end - pos) as u64;
            pos = end;
        }
        self.cenc_iv = match self.cenc_iv {
            CencIv::Eight(iv) => {
                CencIv::Eight(u64::from_be_bytes(iv).wrapping_add(1).to_be_bytes())
            }
            CencIv::Sixteen(iv) => {
                let blocks = protected.div_ceil(16) as u128;
                CencIv::Sixteen(
                    u128::from_be_bytes(iv)
                        .wrapping_add(blocks.max(1))
                        .to_be_bytes(),
                )
            }
        };
        sample_iv
    }
}

/// CBC over the `crypt` blocks of every `crypt + skip` group of whole 16-byte blocks in
/// `range`, chaining across the encrypted blocks only; a partial last block stays clear.
/// `crypt` 0 or `skip` 0 means every whole block (audio's whole-block encryption).
fn pattern_cbc(key: &Aes128Enc, iv: &[u8; 16], range: &mut [u8], crypt: u8, skip: u8) {
    let mut enc = CbcEnc::inner_iv_init(key.clone(), iv.into());
    let whole = range.len() / 16;
    let (crypt, skip) = if crypt == 0 || skip == 0 {
        (whole.max(1), 0)
    } else {
        (usize::from(crypt), usize::from(skip))
    };
    let mut block = 0;
    while block < whole {
        let n = crypt.min(whole - block);
        for b in block..block + n {
            let chunk = &mut range[b * 16..b * 16 + 16];
            enc.encrypt_block_mut(GenericArray::from_mut_slice(chunk));
        }
        block += n + skip;
    }
}
