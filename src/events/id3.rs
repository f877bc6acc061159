//! ID3v2 tags (id3.org ID3v2.4.0-structure, section 3.1): the checks a timed metadata
//! buffer must pass before it becomes an event.

use super::EventError;

/// Length of the ID3v2 header and of its optional footer.
const HEADER_LEN: usize = 10;

/// Checks that `data` starts with a complete ID3v2 tag (version 2.2 to 2.4) and returns
/// the tag's length (header, frames, padding, footer).
pub fn check_tag(data: &[u8]) -> Result<usize, EventError> {
    let Some(header) = data.get(..HEADER_LEN) else {
        return Err(EventError::NotId3("shorter than the 10-byte header"));
    };
    if &header[..3] != b"ID3" {
        return Err(EventError::NotId3("no \"ID3\" identifier"));
    }
    if !(2..=4).contains(&header[3]) || header[4] == 0xff {
        return Err(EventError::NotId3("unknown version"));
    }
    let size = &header[6..10];
    if size.iter().any(|b| b & 0x80 != 0) {
        return Err(EventError::NotId3("size is not a synchsafe integer"));
    }
    let body = size
        .iter()
        .fold(0usize, |acc, b| (acc << 7) | usize::from(*b));
    let footer = if header[3] == 4 && header[5] & 0x10 != 0 {
        HEADER_LEN
    } else {
        0
    };
    let declared = HEADER_LEN + body + footer;
    if data.len() < declared {
        return Err(EventError::Id3Truncated {
            declared,
            actual: data.len(),
        });
    }
    Ok(declared)
}

/// A minimal ID3v2.4 tag with one `TXXX` frame (`description`, `text`), for tests and
/// examples.
pub fn txxx_tag(description: &str, text: &str) -> Vec<u8> {
    let mut frame_body = vec![3u8]; // UTF-8
    frame_body.extend_from_slice(description.as_bytes());
    frame_body.push(0);
    frame_body.extend_from_slice(text.as_bytes());
    let mut frame = b"TXXX".to_vec();
    frame.extend_from_slice(&synchsafe(frame_body.len()));
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&frame_body);
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&synchsafe(frame.len()));
    tag.extend_from_slice(&frame);
    tag
}

fn synchsafe(n: usize) -> [u8; 4] {
    [
        ((n >> 21) & 0x7f) as u8,
        ((n >> 14) & 0x7f) as u8,
        ((n >> 7) & 0x7f) as u8,
        (n & 0x7f) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_tag_passes() {
        let tag = txxx_tag("song", "héllo");
        assert_eq!(check_tag(&tag), Ok(tag.len()));
        assert_eq!(&tag[10..14], b"TXXX");
    }

    #[test]
    fn other_bytes_are_refused() {
        assert!(matches!(check_tag(b"ID3"), Err(EventError::NotId3(_))));
        assert!(matches!(
            check_tag(b"XYZ\x04\0\0\0\0\0\0"),
            Err(EventError::NotId3(_))
        ));
        assert!(matches!(
            check_tag(b"ID3\x04\0\0\0\0\x80\0"),
            Err(EventError::NotId3(_))
        ));
        let tag = txxx_tag("a", "b");
        assert_eq!(
            check_tag(&tag[..tag.len() - 1]),
            Err(EventError::Id3Truncated {
                declared: tag.len(),
                actual: tag.len() - 1
            })
        );
    }

    #[test]
    fn a_footer_counts() {
        let mut tag = txxx_tag("a", "b");
        tag[5] |= 0x10;
        assert!(matches!(
            check_tag(&tag),
            Err(EventError::Id3Truncated { .. })
        ));
        tag.extend_from_slice(b"3DI\x04\0\x10\0\0\0\0");
        assert_eq!(check_tag(&tag), Ok(tag.len()));
    }
}
