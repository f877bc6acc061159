//! Which request paths name an object at all. The origin looks objects up by name in
//! memory and never maps a URL onto the filesystem; this refuses anything that is not
//! a plain name before the lookup, so odd spellings cannot alias one.

/// Splits `/prefix/name` into the rendition prefix and the object name, or `None` (a
/// `404`) for anything but plain names: `[A-Za-z0-9._-]` segments, no `.`/`..`
/// segments, no percent-escapes, no empty segments, no NUL or backslash.
pub fn split(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    if !rest.split('/').all(plain_segment) {
        return None;
    }
    match rest.split_once('/') {
        Some((prefix, name)) => Some((prefix, name)),
        None => Some(("", rest)),
    }
}

fn plain_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The `Content-Type` of an object, from its name.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("m4s") => "video/iso.segment",
        Some("mp4") | Some("m4v") => "video/mp4",
        Some("m4a") => "audio/mp4",
        Some("mpd") => "application/dash+xml",
        _ => "application/octet-stream",
    }
}

/// The `Cache-Control` of a complete object: a DASH MPD is replaced as the presentation
/// goes on; everything else never changes once published (`immutable`).
pub fn cache_control<'a>(name: &str, immutable: &'a str) -> &'a str {
    if name.ends_with(".mpd") {
        "no-cache"
    } else {
        immutable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_split_into_prefix_and_name() {
        assert_eq!(
            split("/live/playlist.m3u8"),
            Some(("live", "playlist.m3u8"))
        );
        assert_eq!(split("/live/seg00001.m4s"), Some(("live", "seg00001.m4s")));
        assert_eq!(split("/main.m3u8"), Some(("", "main.m3u8")));
        assert_eq!(split("/a/b/c.mp4"), Some(("a", "b/c.mp4")));
    }

    #[test]
    fn traversal_and_odd_spellings_name_nothing() {
        for p in [
            "",
            "/",
            "live/playlist.m3u8",
            "/live/../etc/passwd",
            "/../etc/passwd",
            "/live/./playlist.m3u8",
            "/live/%2e%2e/x",
            "/live/%2E%2E/x",
            "/live//playlist.m3u8",
            "//etc/passwd",
            "/live/playlist.m3u8\0",
            "/live\\..\\x",
            "/live/play list.m3u8",
            "/live/",
        ] {
            assert_eq!(split(p), None, "{p:?}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("p.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(content_type("init0.mp4"), "video/mp4");
        assert_eq!(content_type("seg1.m4s"), "video/iso.segment");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
