//! A byte writer for ISO BMFF boxes: open a box, write its fields, close it to back-patch the size.

/// Four-character box or brand code.
pub type FourCc = [u8; 4];

/// Position of an open box; closing it writes the box size in place.
#[must_use = "an open box must be closed with BoxWriter::end"]
#[derive(Debug)]
pub struct OpenBox {
    start: usize,
    large: bool,
}

/// Position of a 32-bit field reserved now and written later with [`BoxWriter::patch_u32`].
#[must_use = "a reserved field must be patched"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U32Slot(usize);

/// Appends big-endian fields and boxes to a growing byte vector.
#[derive(Debug, Default)]
pub struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    /// A writer with room for `capacity` bytes before it reallocates.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The finished bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Opens a box with a 32-bit size field.
    pub fn begin(&mut self, kind: FourCc) -> OpenBox {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(&kind);
        OpenBox {
            start,
            large: false,
        }
    }

    /// Opens a box whose size is written in the 64-bit `largesize` field.
    pub fn begin_large(&mut self, kind: FourCc) -> OpenBox {
        let start = self.buf.len();
        self.u32(1);
        self.bytes(&kind);
        self.u64(0);
        OpenBox { start, large: true }
    }

    /// Opens a full box (version and 24-bit flags follow the header).
    pub fn begin_full(&mut self, kind: FourCc, version: u8, flags: u32) -> OpenBox {
        let b = self.begin(kind);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
        b
    }

    /// Closes a box: writes its final size into its header.
    ///
    /// Panics only on a programming error (a 32-bit box larger than 4 GiB), which
    /// callers rule out by choosing [`BoxWriter::begin_large`] for payload-sized boxes.
    pub fn end(&mut self, open: OpenBox) {
        let size = self.buf.len() - open.start;
        if open.large {
            self.buf[open.start + 8..open.start + 16].copy_from_slice(&(size as u64).to_be_bytes());
        } else {
            let size = u32::try_from(size).expect("header box larger than 4 GiB");
            self.buf[open.start..open.start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }

    /// Reserves a 32-bit field to be written later.
    pub fn reserve_u32(&mut self) -> U32Slot {
        let slot = U32Slot(self.buf.len());
        self.u32(0);
        slot
    }

    /// Writes a reserved 32-bit field.
    pub fn patch_u32(&mut self, slot: U32Slot, value: u32) {
        self.buf[slot.0..slot.0 + 4].copy_from_slice(&value.to_be_bytes());
    }

    /// Byte offset of a reserved field from the start of the writer.
    pub fn slot_offset(&self, slot: U32Slot) -> usize {
        slot.0
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// The low 24 bits of `v`.
    pub fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
}

/// The header of an `mdat` holding `payload_len` bytes: 8 bytes, or 16 with the
/// 64-bit `largesize` when the box does not fit a 32-bit size.
pub fn mdat_header(payload_len: u64) -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(16);
    if payload_len + 8 <= u64::from(u32::MAX) {
        w.u32((payload_len + 8) as u32);
        w.bytes(b"mdat");
    } else {
        w.u32(1);
        w.bytes(b"mdat");
        w.u64(payload_len + 16);
    }
    w.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_back_patched() {
        let mut w = BoxWriter::default();
        let outer = w.begin(*b"moov");
        let inner = w.begin_full(*b"mvhd", 1, 0x00_0102);
        w.u32(7);
        w.end(inner);
        w.end(outer);
        let b = w.into_bytes();
        assert_eq!(b.len(), 8 + 16);
        assert_eq!(&b[0..8], &[0, 0, 0, 24, b'm', b'o', b'o', b'v']);
        assert_eq!(&b[8..16], &[0, 0, 0, 16, b'm', b'v', b'h', b'd']);
        assert_eq!(&b[16..20], &[1, 0, 1, 2]);
        assert_eq!(&b[20..24], &[0, 0, 0, 7]);
    }

    #[test]
    fn large_box_uses_64_bit_size() {
        let mut w = BoxWriter::default();
        let b = w.begin_large(*b"free");
        w.zeros(3);
        w.end(b);
        let b = w.into_bytes();
        assert_eq!(&b[0..8], &[0, 0, 0, 1, b'f', b'r', b'e', b'e']);
        assert_eq!(u64::from_be_bytes(b[8..16].try_into().unwrap()), 19);
    }

    #[test]
    fn reserved_slots_are_patched() {
        let mut w = BoxWriter::default();
        w.u8(9);
        let s = w.reserve_u32();
        w.u8(9);
        assert_eq!(w.slot_offset(s), 1);
        w.patch_u32(s, 0xdead_beef);
        assert_eq!(w.into_bytes(), vec![9, 0xde, 0xad, 0xbe, 0xef, 9]);
    }

    #[test]
    fn mdat_header_switches_to_large_size() {
        assert_eq!(mdat_header(10), vec![0, 0, 0, 18, b'm', b'd', b'a', b't']);
        let small_max = u64::from(u32::MAX) - 8;
        assert_eq!(mdat_header(small_max).len(), 8);
        let h = mdat_header(small_max + 1);
        assert_eq!(h.len(), 16);
        assert_eq!(&h[0..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(h[8..16].try_into().unwrap()),
            small_max + 1 + 16
        );
        let five_gib = 5u64 << 30;
        let h = mdat_header(five_gib);
        assert_eq!(
            u64::from_be_bytes(h[8..16].try_into().unwrap()),
            five_gib + 16
        );
    }
}
