//! The ciphers checked against an independent AES implementation: the `openssl`
//! command decrypts what RustCrypto encrypted.

use super::*;
use std::io::Write;
use std::process::{Command, Stdio};

const KEY: [u8; 16] = *b"0123456789abcdef";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `openssl enc -d -{mode} -K key -iv iv -nopad` over `data`.
fn openssl_decrypt(mode: &str, iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args([
            "enc",
            "-d",
            mode,
            "-nopad",
            "-K",
            &hex(&KEY),
            "-iv",
            &hex(iv),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The protected bytes of `data` under `map`, concatenated.
fn protected(data: &[u8], map: &[Subsample]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 0;
    for s in map {
        pos += usize::from(s.clear);
        out.extend_from_slice(&data[pos..pos + s.protected as usize]);
        pos += s.protected as usize;
    }
    out
}

#[test]
fn cenc_is_one_ctr_keystream_over_a_samples_protected_bytes() {
    let mut enc = SampleEncryptor::cenc(KEY, CencIv::Eight([1, 2, 3, 4, 5, 6, 7, 8]));
    let map = [
        Subsample {
            clear: 5,
            protected: 40,
        },
        Subsample {
            clear: 3,
            protected: 21,
        },
    ];
    for n in 0..3u64 {
        let clear = sample(69, n as u8);
        let mut data = clear.clone();
        let iv = enc.encrypt(&mut data, &map);
        assert_eq!(iv.len(), 8);
        assert_eq!(
            u64::from_be_bytes(iv.clone().try_into().unwrap()),
            0x0102030405060708 + n
        );
        // Clear ranges untouched, protected ones changed.
        assert_eq!(&data[..5], &clear[..5]);
        assert_eq!(&data[45..48], &clear[45..48]);
        assert_ne!(&data[5..45], &clear[5..45]);
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(&iv);
        let back = openssl_decrypt("-aes-128-ctr", &block, &protected(&data, &map));
        assert_eq!(back, protected(&clear, &map), "sample {n}");
    }
}

#[test]
fn a_16_byte_cenc_iv_advances_past_the_blocks_used() {
    let start = [0xffu8; 16];
    let mut enc = SampleEncryptor::cenc(KEY, CencIv::Sixteen(start));
    let mut a = sample(40, 1);
    let iv_a = enc.encrypt(&mut a, &whole_sample(40));
    let mut b = sample(10, 2);
    let iv_b = enc.encrypt(&mut b, &whole_sample(10));
    assert_eq!(iv_a, start.to_vec());
    // 40 bytes = 3 blocks: the next counter block is 3 past (wrapping).
    assert_eq!(u128::from_be_bytes(iv_b.clone().try_into().unwrap()), 2);
    let back = openssl_decrypt("-aes-128-ctr", &iv_b.try_into().unwrap(), &b);
    assert_eq!(back, sample(10, 2));
}

#[test]
fn cbcs_encrypts_one_block_in_ten_chained_and_restarts_per_subsample() {
    let iv = *b"fedcba9876543210";
    let mut enc = SampleEncryptor::cbcs(KEY, iv, 1, 9);
    // Two subsamples of 400 protected bytes: 25 blocks, pattern 1:9 -> blocks 0, 10, 20.
    let map = [
        Subsample {
            clear: 10,
            protected: 400,
        },
        Subsample {
            clear: 7,
            protected: 405,
        },
    ];
    let clear = sample(822, 9);
    let mut data = clear.clone();
    assert!(
        enc.encrypt(&mut data, &map).is_empty(),
        "cbcs IVs are constant"
    );
    for (start, len) in [(10usize, 400usize), (417, 405)] {
        let mut encrypted = Vec::new();
        let mut plain = Vec::new();
        for b in 0..len / 16 {
            let r = start + b * 16..start + b * 16 + 16;
            if b % 10 == 0 {
                encrypted.extend_from_slice(&data[r.clone()]);
                plain.extend_from_slice(&clear[r]);
            } else {
                assert_eq!(&data[r.clone()], &clear[r], "skipped block {b} stays clear");
            }
        }
        // The encrypted blocks form one CBC chain from the constant IV.
        assert_eq!(openssl_decrypt("-aes-128-cbc", &iv, &encrypted), plain);
        // The partial last block stays clear.
        let tail = start + len / 16 * 16..start + len;
        assert_eq!(&data[tail.clone()], &clear[tail]);
    }
}

#[test]
fn keys_are_32_hex_digits() {
    assert_eq!(
        parse_hex16("000102030405060708090a0b0c0d0e0f").unwrap()[15],
        15
    );
    assert!(parse_hex16("0001").is_none());
    assert!(parse_hex16("zz0102030405060708090a0b0c0d0e0f").is_none());
    assert!(parse_hex16("000102030405060708090a0b0c0d0e0f00").is_none());
}
