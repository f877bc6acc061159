//! A bounds-checked reader of ISO BMFF boxes over a byte slice: the counterpart of the writer.
//! Every read that would run past the end is an error naming the box and the stream offset.

use super::writer::FourCc;

/// A box or field that could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("box '{kind}' at byte {offset}: {why}")]
pub struct ReadError {
    /// Four-character code of the box being read, as text.
    pub kind: String,
    /// Stream offset of the box's first byte.
    pub offset: u64,
    pub why: String,
}

/// The size and type of a box, from its first 8 or 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    pub kind: FourCc,
    /// Bytes of the header itself (8, or 16 with a 64-bit size).
    pub header_len: u8,
    /// Total size including the header; `None` when the box extends to the end of the stream.
    pub size: Option<u64>,
}

/// Printable form of a four-character code.
pub fn fourcc_str(kind: &FourCc) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

impl BoxHeader {
    /// Reads a header from the start of `data`; `Ok(None)` when more bytes are needed.
    pub fn parse(data: &[u8], offset: u64) -> Result<Option<BoxHeader>, ReadError> {
        let Some(head) = data.get(..8) else {
            return Ok(None);
        };
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind: FourCc = [head[4], head[5], head[6], head[7]];
        let (header_len, size) = match size32 {
            0 => (8, None),
            1 => {
                let Some(large) = data.get(8..16) else {
                    return Ok(None);
                };
                let mut b = [0u8; 8];
                b.copy_from_slice(large);
                (16, Some(u64::from_be_bytes(b)))
            }
            n => (8, Some(u64::from(n))),
        };
        if let Some(size) = size
            && size < u64::from(header_len)
        {
            return Err(ReadError {
                kind: fourcc_str(&kind),
                offset,
                why: format!("size {size} is smaller than its {header_len}-byte header"),
            });
        }
        Ok(Some(BoxHeader {
            kind,
            header_len,
            size,
        }))
    }
}

/// Reads big-endian fields from the body of one box.
#[derive(Debug, Clone)]
pub struct BoxReader<'a> {
    kind: FourCc,
    /// Stream offset of `data[0]`.
    base: u64,
    /// Stream offset of the box's first byte, for messages.
    box_offset: u64,
    data: &'a [u8],
    pos: usize,
}

impl<'a> BoxReader<'a> {
    /// A reader over a box body `data` whose first byte sits at stream offset `base`.
    pub fn new(kind: FourCc, box_offset: u64, base: u64, data: &'a [u8]) -> Self {
        Self {
            kind,
            base,
            box_offset,
            data,
            pos: 0,
        }
    }

    /// The box this reader reads.
    pub fn kind(&self) -> FourCc {
        self.kind
    }

    /// Stream offset of the box's first byte.
    pub fn box_offset(&self) -> u64 {
        self.box_offset
    }

    /// An error about this box.
    pub fn error(&self, why: impl Into<String>) -> ReadError {
        ReadError {
            kind: fourcc_str(&self.kind),
            offset: self.box_offset,
            why: why.into(),
        }
    }

    /// Stream offset just after the box's last byte.
    pub fn end(&self) -> u64 {
        self.base + self.data.len() as u64
    }

    /// The `len` bytes of the body at stream offset `offset`, wherever the reader is;
    /// `None` unless they lie wholly inside the body.
    pub fn slice_at(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(offset.checked_sub(self.base)?).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.data.get(start..end)
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let Some(end) = end else {
            return Err(self.error(format!(
                "needs {n} more bytes at body byte {}, {} left",
                self.pos,
                self.remaining()
            )));
        };
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The rest of the body.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.data[self.pos..];
        self.pos = self.data.len();
        out
    }

    pub fn skip(&mut self, n: usize) -> Result<(), ReadError> {
        self.bytes(n).map(|_| ())
    }

    pub fn u8(&mut self) -> Result<u8, ReadError> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, ReadError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, ReadError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, ReadError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Version and 24-bit flags of a full box.
    pub fn full_header(&mut self) -> Result<(u8, u32), ReadError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00ff_ffff))
    }

    /// A 32-bit field for version 0, a 64-bit one for version 1.
    pub fn u32_or_u64(&mut self, version: u8) -> Result<u64, ReadError> {
        if version == 1 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }

    /// The next child box, or `None` at the end of the body.
    pub fn next_child(&mut self) -> Result<Option<BoxReader<'a>>, ReadError> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let offset = self.base + self.pos as u64;
        let header = match BoxHeader::parse(&self.data[self.pos..], offset)? {
            Some(h) => h,
            None => return Err(self.error(format!("truncated child box at byte {offset}"))),
        };
        let avail = self.remaining() as u64;
        let size = header.size.unwrap_or(avail);
        if size > avail {
            return Err(ReadError {
                kind: fourcc_str(&header.kind),
                offset,
                why: format!(
                    "size {size} overruns its parent '{}' ({avail} bytes left)",
                    fourcc_str(&self.kind)
                ),
            });
        }
        let start = self.pos + usize::from(header.header_len);
        let end = self.pos + size as usize;
        self.pos = end;
        Ok(Some(BoxReader::new(
            header.kind,
            offset,
            self.base + start as u64,
            &self.data[start..end],
        )))
    }

    /// All children, in order.
    pub fn children(&mut self) -> Result<Vec<BoxReader<'a>>, ReadError> {
        let mut out = Vec::new();
        while let Some(c) = self.next_child()? {
            out.push(c);
        }
        Ok(out)
    }

    /// The first child of kind `kind` among the remaining ones.
    pub fn find(&self, kind: &FourCc) -> Result<Option<BoxReader<'a>>, ReadError> {
        let mut copy = self.clone();
        while let Some(c) = copy.next_child()? {
            if &c.kind == kind {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// Like [`BoxReader::find`], an error when the child is missing.
    pub fn require(&self, kind: &FourCc) -> Result<BoxReader<'a>, ReadError> {
        self.find(kind)?.ok_or_else(|| {
            self.error(format!(
                "has no '{}' box, which it must have",
                fourcc_str(kind)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_need_enough_bytes() {
        assert_eq!(BoxHeader::parse(&[0, 0, 0, 8, b'f'], 0), Ok(None));
        let h = BoxHeader::parse(&[0, 0, 0, 8, b'f', b'r', b'e', b'e'], 0)
            .unwrap()
            .unwrap();
        assert_eq!((h.kind, h.header_len, h.size), (*b"free", 8, Some(8)));
        let large = [0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(BoxHeader::parse(&large[..12], 0), Ok(None));
        let h = BoxHeader::parse(&large, 0).unwrap().unwrap();
        assert_eq!((h.header_len, h.size), (16, Some(1 << 32)));
        let h = BoxHeader::parse(&[0, 0, 0, 0, b'm', b'd', b'a', b't'], 0)
            .unwrap()
            .unwrap();
        assert_eq!(h.size, None);
        let err = BoxHeader::parse(&[0, 0, 0, 4, b'm', b'o', b'o', b'f'], 42).unwrap_err();
        assert_eq!(err.offset, 42);
        assert!(err.to_string().contains("smaller than"), "{err}");
    }

    #[test]
    fn children_are_bounded_by_their_parent() {
        // A parent body with one 12-byte child and one claiming 100 bytes.
        let body = [
            0, 0, 0, 12, b'a', b'b', b'c', b'd', 1, 2, 3, 4, 0, 0, 0, 100, b'e', b'f', b'g', b'h',
        ];
        let mut r = BoxReader::new(*b"test", 0, 8, &body);
        let mut c = r.next_child().unwrap().unwrap();
        assert_eq!(c.kind(), *b"abcd");
        assert_eq!(c.box_offset(), 8);
        assert_eq!(c.u32().unwrap(), 0x0102_0304);
        assert!(c.u8().is_err());
        let err = r.next_child().unwrap_err();
        assert_eq!(err.offset, 20);
        assert!(err.to_string().contains("overruns"), "{err}");
    }
}
