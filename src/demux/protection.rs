//! Common Encryption as the demuxer reads it (ISO/IEC 23001-7): the protection scheme of
//! an encrypted sample entry (`sinf` with `frma`, `schm`, `schi`/`tenc`), `pssh` boxes,
//! and each `traf`'s per-sample auxiliary information (`senc`, else `saiz` + `saio`).
//! Knows nothing of GStreamer; the element turns it into caps, metas and events.

use crate::boxes::cenc::{SampleAux, check_pssh};
use crate::boxes::reader::{BoxReader, ReadError, fourcc_str};
use crate::boxes::{FourCc, SampleEntry};
use crate::encrypt::Subsample;

/// The protection schemes of ISO/IEC 23001-7.
pub const SCHEMES: [FourCc; 4] = [*b"cenc", *b"cbcs", *b"cens", *b"cbc1"];

/// How a track is protected, from its sample entry's `sinf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProtection {
    /// `frma`: the sample entry's format before encryption (`avc1`, `mp4a`, ...).
    pub original_format: FourCc,
    /// `schm` scheme type: one of [`SCHEMES`].
    pub scheme: FourCc,
    /// `tenc` `default_isProtected`.
    pub protected: bool,
    pub default_kid: [u8; 16],
    /// Bytes of each sample's IV in the auxiliary information (0, 8 or 16).
    pub per_sample_iv_size: u8,
    /// The IV of every sample when `per_sample_iv_size` is 0 (8 or 16 bytes), else empty.
    pub constant_iv: Vec<u8>,
    /// Pattern (`tenc` version 1): encrypted and clear 16-byte blocks; 0:0 = none.
    pub crypt_byte_block: u8,
    pub skip_byte_block: u8,
}

impl TrackProtection {
    /// The scheme as text (`cenc`, `cbcs`, ...), as caps and metas name it.
    pub fn scheme_name(&self) -> String {
        fourcc_str(&self.scheme)
    }

    /// A pattern is used (`cbcs`, `cens`).
    pub fn has_pattern(&self) -> bool {
        self.crypt_byte_block != 0 || self.skip_byte_block != 0
    }
}

/// A `pssh` box: the protection system and the whole box as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pssh {
    pub system_id: [u8; 16],
    /// The complete box (header included), as a license request carries it.
    pub data: Vec<u8>,
}

impl Pssh {
    /// The system ID as an RFC 4122 UUID string, lower case with dashes (as `qtdemux`).
    pub fn system_id_string(&self) -> String {
        uuid_string(&self.system_id)
    }
}

/// 16 bytes as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower case.
pub fn uuid_string(id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Reads a `pssh` box (the reader over its body) and checks it whole.
pub fn parse_pssh(pssh: &BoxReader) -> Result<Pssh, ReadError> {
    let mut body = pssh.clone();
    let rest = body.rest();
    let len = rest.len() + 8;
    let mut data = Vec::with_capacity(len);
    data.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    data.extend_from_slice(b"pssh");
    data.extend_from_slice(rest);
    check_pssh(&data).map_err(|e| pssh.error(e.to_string()))?;
    let mut system_id = [0u8; 16];
    system_id.copy_from_slice(&data[12..28]);
    Ok(Pssh { system_id, data })
}

/// The entry as it was before encryption: the original format, without its `sinf`.
pub fn original_entry(entry: &SampleEntry, p: &TrackProtection) -> SampleEntry {
    let mut e = entry.clone();
    e.fourcc = p.original_format;
    e.children.retain(|c| &c.fourcc != b"sinf");
    e
}

/// Reads the `sinf` boxes of an `encv`/`enca` entry: the first with a known scheme.
/// An entry whose every `sinf` names another scheme is an error naming its `schm`.
pub fn parse_protection(
    entry: &BoxReader,
    sinfs: &[BoxReader],
) -> Result<TrackProtection, ReadError> {
    let mut unknown = None;
    for sinf in sinfs {
        match parse_sinf(sinf)? {
            Ok(p) => return Ok(p),
            Err(e) => {
                unknown.get_or_insert(e);
            }
        }
    }
    Err(unknown.unwrap_or_else(|| entry.error("is an encrypted sample entry without a 'sinf' box")))
}

/// `Ok(Err(..))`: a well-formed `sinf` of a scheme that is not Common Encryption.
fn parse_sinf(sinf: &BoxReader) -> Result<Result<TrackProtection, ReadError>, ReadError> {
    let mut frma = sinf.require(b"frma")?;
    let original_format: FourCc = frma
        .bytes(4)?
        .try_into()
        .map_err(|_| frma.error("too short"))?;
    let mut schm = sinf.require(b"schm")?;
    schm.full_header()?;
    let scheme: FourCc = schm
        .bytes(4)?
        .try_into()
        .map_err(|_| schm.error("too short"))?;
    if !SCHEMES.contains(&scheme) {
        return Ok(Err(schm.error(format!(
            "protection scheme '{}' is not one of cenc, cbcs, cens, cbc1",
            fourcc_str(&scheme)
        ))));
    }
    let schi = sinf.require(b"schi")?;
    let mut tenc = schi.require(b"tenc")?;
    let (version, _) = tenc.full_header()?;
    tenc.u8()?; // reserved
    let pattern = tenc.u8()?;
    let (crypt_byte_block, skip_byte_block) = if version >= 1 {
        (pattern >> 4, pattern & 0x0f)
    } else {
        (0, 0)
    };
    let protected = tenc.u8()? != 0;
    let per_sample_iv_size = tenc.u8()?;
    if !matches!(per_sample_iv_size, 0 | 8 | 16) {
        return Err(tenc.error(format!(
            "per-sample IV size {per_sample_iv_size} is not 0, 8 or 16"
        )));
    }
    let mut default_kid = [0u8; 16];
    default_kid.copy_from_slice(tenc.bytes(16)?);
    let mut constant_iv = Vec::new();
    if protected && per_sample_iv_size == 0 {
        let size = tenc.u8()?;
        if !matches!(size, 8 | 16) {
            return Err(tenc.error(format!("constant IV size {size} is not 8 or 16")));
        }
        constant_iv = tenc.bytes(usize::from(size))?.to_vec();
    }
    Ok(Ok(TrackProtection {
        original_format,
        scheme,
        protected,
        default_kid,
        per_sample_iv_size,
        constant_iv,
        crypt_byte_block,
        skip_byte_block,
    }))
}

/// `senc` flag: each entry has a subsample map.
const SENC_SUBSAMPLES: u32 = 0x2;
/// `senc` flag (PIFF): the entries' parameters override the track's.
const SENC_OVERRIDE: u32 = 0x1;

/// The auxiliary information of the `count` samples a `traf` of `track_id` describes:
/// from its `senc`, else from `saiz` + `saio` (offsets from `base`, the traf's data
/// base, pointing into the `moof`). A track with a constant IV may have neither.
pub fn parse_traf_aux(
    traf: &BoxReader,
    moof: &BoxReader,
    base: u64,
    count: usize,
    track_id: u32,
    p: &TrackProtection,
) -> Result<Vec<SampleAux>, ReadError> {
    if let Some(senc) = traf.find(b"senc")? {
        return parse_senc(senc, count, track_id, p);
    }
    if let Some((saiz, saio)) = find_aux_boxes(traf)? {
        return parse_saiz_saio(saiz, saio, moof, base, count, track_id, p);
    }
    if p.protected && p.per_sample_iv_size > 0 {
        return Err(traf.error(format!(
            "track {track_id} is encrypted with per-sample IVs, but the 'traf' has neither 'senc' nor 'saiz'/'saio'"
        )));
    }
    Ok(vec![SampleAux::default(); count])
}

fn parse_senc(
    mut senc: BoxReader,
    count: usize,
    track_id: u32,
    p: &TrackProtection,
) -> Result<Vec<SampleAux>, ReadError> {
    let (version, flags) = senc.full_header()?;
    if version != 0 {
        return Err(senc.error(format!("version {version} is not supported (only 0)")));
    }
    let mut iv_size = usize::from(p.per_sample_iv_size);
    if flags & SENC_OVERRIDE != 0 {
        senc.skip(3)?; // AlgorithmID
        iv_size = usize::from(senc.u8()?);
        senc.skip(16)?; // KID
    }
    let n = senc.u32()? as usize;
    if n != count {
        return Err(senc.error(format!(
            "has {n} entries, but the 'trun's of track {track_id} describe {count} samples"
        )));
    }
    let min_entry = iv_size + if flags & SENC_SUBSAMPLES != 0 { 2 } else { 0 };
    if n.saturating_mul(min_entry) > senc.remaining() {
        return Err(senc.error(format!(
            "{n} entries of at least {min_entry} bytes do not fit its {} bytes",
            senc.remaining()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_entry(
            &mut senc,
            iv_size,
            flags & SENC_SUBSAMPLES != 0,
        )?);
    }
    if senc.remaining() != 0 {
        return Err(senc.error(format!(
            "{} bytes left after its {n} entries: the IV size {iv_size} does not fit it",
            senc.remaining()
        )));
    }
    Ok(out)
}

/// One entry: the IV, then with `subsamples` a count and (clear, protected) pairs.
fn read_entry(r: &mut BoxReader, iv_size: usize, subsamples: bool) -> Result<SampleAux, ReadError> {
    let iv = r.bytes(iv_size)?.to_vec();
    let mut map = Vec::new();
    if subsamples {
        let k = usize::from(r.u16()?);
        if k * 6 > r.remaining() {
            return Err(r.error(format!(
                "a sample's {k} subsamples do not fit the {} bytes left",
                r.remaining()
            )));
        }
        map.reserve(k);
        for _ in 0..k {
            map.push(Subsample {
                clear: r.u16()?,
                protected: r.u32()?,
            });
        }
    }
    Ok(SampleAux {
        iv,
        subsamples: map,
    })
}

/// `saiz`/`saio` flag: an `aux_info_type` and its parameter follow.
const AUX_INFO_TYPE: u32 = 0x1;

/// The auxiliary information type of a `saiz`/`saio`, when given; advances past it.
fn aux_type(r: &mut BoxReader, flags: u32) -> Result<Option<FourCc>, ReadError> {
    if flags & AUX_INFO_TYPE == 0 {
        return Ok(None);
    }
    let kind: FourCc = r.bytes(4)?.try_into().map_err(|_| r.error("too short"))?;
    r.u32()?; // aux_info_type_parameter
    Ok(Some(kind))
}

/// The first `saiz` and `saio` of the traf that carry Common Encryption information
/// (no type, or one of the schemes). A `saiz` without its `saio` is an error.
fn find_aux_boxes<'a>(
    traf: &BoxReader<'a>,
) -> Result<Option<(BoxReader<'a>, BoxReader<'a>)>, ReadError> {
    let is_cenc = |b: &BoxReader| -> Result<bool, ReadError> {
        let mut r = b.clone();
        let (_, flags) = r.full_header()?;
        Ok(aux_type(&mut r, flags)?.is_none_or(|t| SCHEMES.contains(&t)))
    };
    let mut saiz = None;
    let mut saio = None;
    for c in traf.clone().children()? {
        match &c.kind() {
            b"saiz" if saiz.is_none() && is_cenc(&c)? => saiz = Some(c),
            b"saio" if saio.is_none() && is_cenc(&c)? => saio = Some(c),
            _ => {}
        }
    }
    match (saiz, saio) {
        (Some(z), Some(o)) => Ok(Some((z, o))),
        (Some(z), None) => Err(z.error("has no 'saio' beside it to say where the information is")),
        _ => Ok(None),
    }
}

fn parse_saiz_saio(
    mut saiz: BoxReader,
    mut saio: BoxReader,
    moof: &BoxReader,
    base: u64,
    count: usize,
    track_id: u32,
    p: &TrackProtection,
) -> Result<Vec<SampleAux>, ReadError> {
    let (_, flags) = saiz.full_header()?;
    aux_type(&mut saiz, flags)?;
    let default_size = saiz.u8()?;
    let n = saiz.u32()? as usize;
    if n != count {
        return Err(saiz.error(format!(
            "has {n} entries, but the 'trun's of track {track_id} describe {count} samples"
        )));
    }
    let sizes: Vec<u8> = if default_size == 0 {
        saiz.bytes(n)?.to_vec()
    } else {
        vec![default_size; n]
    };
    let (version, flags) = saio.full_header()?;
    aux_type(&mut saio, flags)?;
    let entries = saio.u32()?;
    if entries != 1 {
        return Err(saio.error(format!(
            "has {entries} offsets; only one per 'traf' is supported"
        )));
    }
    let offset = saio.u32_or_u64(version)?;
    let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
    let start = base.checked_add(offset);
    let bytes = start.and_then(|s| moof.slice_at(s, total)).ok_or_else(|| {
        saio.error(format!(
            "offset {offset} (+{total} bytes) from byte {base} lies outside the 'moof' at bytes {}..{}",
            moof.box_offset(),
            moof.end()
        ))
    })?;
    let start = start.unwrap_or(base);
    let iv_size = usize::from(p.per_sample_iv_size);
    let mut out = Vec::with_capacity(n);
    let mut pos = 0usize;
    for (i, &size) in sizes.iter().enumerate() {
        let size = usize::from(size);
        let entry = &bytes[pos..pos + size];
        let mut r = BoxReader::new(*b"saio", saio.box_offset(), start + pos as u64, entry);
        let aux = read_entry(&mut r, iv_size, size > iv_size)?;
        if r.remaining() != 0 {
            return Err(saio.error(format!(
                "sample {i}'s information is {size} bytes, its IV and subsamples {}",
                size - r.remaining()
            )));
        }
        out.push(aux);
        pos += size;
    }
    Ok(out)
}
