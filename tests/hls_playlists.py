#!/usr/bin/env python3
"""Independent judge of a run's HLS media playlists (RFC 8216), with PyPI `m3u8`.

Usage: hls_playlists.py SNAPSHOT...  (the playlist as read during the run, in order)

Checks every snapshot: EXT-X-TARGETDURATION never changes (6.2.1), every EXTINF rounded
to the nearest integer is at most it (4.3.3.1), media sequence numbers follow the window,
a segment keeps its URI and EXTINF from one snapshot to the next, and the last snapshot
ends with EXT-X-ENDLIST. Delta updates (EXT-X-SKIP) count the skipped segments.

Low-Latency HLS playlists (EXT-X-PART-INF) also: CAN-BLOCK-RELOAD, PART-HOLD-BACK at least
3 x PART-TARGET, HOLD-BACK at least 3 and CAN-SKIP-UNTIL at least 6 target durations; every
part at most PART-TARGET and, but a segment's last, at least 85 % of it; a segment's parts
sum to its EXTINF to the microsecond; its first part INDEPENDENT; a part keeps its URI and
duration; a preload hint until the end. Consecutive EXT-X-PROGRAM-DATE-TIMEs differ by the
EXTINF between them (1.5 ms). Prints `target N`, then one `segment SEQUENCE URI EXTINF` line
per segment seen, in order; exits 1 with the violations otherwise.
"""

import sys

import m3u8


def us(seconds):
    return round(seconds * 1_000_000)


def check_ll(path, playlist, first, errors, parts_seen):
    """The Low-Latency rules of one snapshot (see the module's doc)."""
    target = playlist.target_duration
    part_target = playlist.part_inf.part_target
    control = playlist.server_control
    if control.can_block_reload != "YES":
        errors.append(f"{path}: no CAN-BLOCK-RELOAD=YES")
    if control.part_hold_back is None or us(control.part_hold_back) < 3 * us(part_target):
        errors.append(f"{path}: PART-HOLD-BACK {control.part_hold_back} < 3 x {part_target}")
    if control.hold_back is None or control.hold_back < 3 * target:
        errors.append(f"{path}: HOLD-BACK {control.hold_back} < 3 x {target}")
    if control.can_skip_until is None or control.can_skip_until < 6 * target:
        errors.append(f"{path}: CAN-SKIP-UNTIL {control.can_skip_until} < 6 x {target}")
    if not playlist.is_endlist and playlist.preload_hint is None:
        errors.append(f"{path}: no EXT-X-PRELOAD-HINT while live")
    for i, seg in enumerate(playlist.segments):
        parts = list(seg.parts)
        if not parts:
            continue
        complete = seg.uri is not None
        for k, part in enumerate(parts):
            if us(part.duration) > us(part_target):
                errors.append(f"{path}: part {part.uri} {part.duration} > PART-TARGET {part_target}")
            last = k == len(parts) - 1
            if not last and part.duration < 0.85 * part_target:
                errors.append(f"{path}: part {part.uri} {part.duration} < 85 % of {part_target}")
            if (k == 0) != (part.independent == "YES"):
                errors.append(f"{path}: part {k} {part.uri} INDEPENDENT={part.independent}")
            key = (first + i, k)
            seen = parts_seen.setdefault(key, (part.uri, part.duration, part.byterange))
            if seen != (part.uri, part.duration, part.byterange):
                errors.append(f"{path}: part {key} was {seen}, now {(part.uri, part.duration)}")
        if complete and sum(us(p.duration) for p in parts) != us(seg.duration):
            errors.append(
                f"{path}: {seg.uri} parts sum to {sum(p.duration for p in parts)}, EXTINF {seg.duration}"
            )


def main(paths):
    errors = []
    target = None
    segments = {}
    parts_seen = {}
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
        skipped = getattr(playlist.skip, "skipped_segments", None)
        if skipped:
            first += int(skipped)
        if getattr(playlist.part_inf, "part_target", None) is not None:
            check_ll(path, playlist, first, errors, parts_seen)
        previous = None
        for i, seg in enumerate(playlist.segments):
            seq = first + i
            if seg.uri is None:
                continue  # the parts of the segment being written
            pdt = seg.program_date_time
            if previous is not None and pdt is not None:
                gap = (pdt - previous[0]).total_seconds()
                if abs(gap - previous[1]) > 0.0015:
                    errors.append(f"{path}: PROGRAM-DATE-TIME of {seg.uri} is {gap} s after the one before, EXTINF {previous[1]}")
            previous = (pdt, seg.duration) if pdt is not None else None
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
