#!/usr/bin/env python3
"""Independent judge of a run's HLS media playlists (RFC 8216), with PyPI `m3u8`.

Usage: hls_playlists.py SNAPSHOT...  (the playlist as read during the run, in order)

Checks every snapshot: EXT-X-TARGETDURATION never changes (6.2.1), every EXTINF rounded
to the nearest integer is at most it (4.3.3.1), media sequence numbers follow the window,
a segment keeps its URI and EXTINF from one snapshot to the next, and the last snapshot
ends with EXT-X-ENDLIST. Prints `target N`, then one `segment SEQUENCE URI EXTINF` line
per segment seen, in order; exits 1 with the violations otherwise.
"""

import sys

import m3u8


def main(paths):
    errors = []
    target = None
    segments = {}
    last = None
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        playlist = m3u8.loads(text)
        last = playlist
        if playlist.target_duration is None:
            errors.append(f"{path}: no EXT-X-TARGETDURATION")
            continue
        if target is None:
            target = playlist.target_duration
        elif playlist.target_duration != target:
            errors.append(
                f"{path}: EXT-X-TARGETDURATION changed from {target} to {playlist.target_duration}"
            )
        first = playlist.media_sequence or 0
        for i, seg in enumerate(playlist.segments):
            seq = first + i
            if round(seg.duration) > playlist.target_duration:
                errors.append(
                    f"{path}: {seg.uri} EXTINF {seg.duration} rounds above the target "
                    f"{playlist.target_duration}"
                )
            seen = segments.get(seq)
            if seen is None:
                segments[seq] = (seg.uri, seg.duration)
            elif seen != (seg.uri, seg.duration):
                errors.append(f"{path}: segment {seq} was {seen}, now {(seg.uri, seg.duration)}")
    if last is None or not last.is_endlist:
        errors.append("the last playlist has no EXT-X-ENDLIST")
    sequences = sorted(segments)
    if sequences != list(range(len(sequences))):
        errors.append(f"segments 0.. not all seen: {sequences}")
    if errors:
        print("\n".join(errors))
        return 1
    print(f"target {target}")
    for seq in sequences:
        uri, duration = segments[seq]
        print(f"segment {seq} {uri} {duration!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
