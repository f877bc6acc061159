#!/usr/bin/env python3
"""Independent judge of a run's DASH MPDs (ISO/IEC 23009-1), with PyPI `mpegdash`.

Usage: dash_mpd.py SNAPSHOT...  (the MPD as read during the run, in order; the last one
is the final MPD)

Checks every snapshot: it parses; a dynamic MPD has availabilityStartTime, publishTime,
minimumUpdatePeriod, suggestedPresentationDelay and a UTCTiming, a static one (the last)
mediaPresentationDuration and neither of them; one AdaptationSet per contentType with
startWithSAP; every Representation has codecs, bandwidth, a SegmentTemplate with a
timescale and a SegmentTimeline whose segments are contiguous (each S@t the previous
t + d) with r expanded; video has width, height and frameRate, audio audioSamplingRate
and an AudioChannelConfiguration; a segment (by number with $Number$, by time with
$Time$) keeps its t and d from one snapshot to the next (with
availabilityTimeComplete="false" the last one, being written, may end elsewhere than
announced); the window start only moves
forward; with timeShiftBufferDepth, the listed duration fits it.

Prints, for the last snapshot, `mpd TYPE DURATION_S|-`, then per Representation `rep ID
CONTENT TIMESCALE PTO INIT BANDWIDTH` followed by one `seg ID NAME T D` line per segment,
`cp CONTENT SCHEME VALUE DEFAULT_KID PSSH` per ContentProtection, `ies CONTENT SCHEME
VALUE` per InbandEventStream of an AdaptationSet (VALUE `-` when empty), `base ID URL
INIT_RANGE INDEX_RANGE TIMESCALE PTO` per single-file (SegmentBase) Representation and
`prt ID WALL_CLOCK_MS PRESENTATION_TIME` per Representation whose dynamic MPDs carry a
ProducerReferenceTime (read with xml.etree: mpegdash does not model it; it must not
change from one snapshot to the next) and `live PATH AVAILABILITY_START_MS PUBLISH_MS
END_S` per dynamic snapshot (END_S: where its listed segments end, in Period time); the
window-only-moves-forward check applies to dynamic MPDs (the static one at EOS may list
more: every segment still on disk); exits 1 with the violations otherwise.
"""

import re
import sys
import xml.etree.ElementTree as ET
from datetime import datetime

from mpegdash.parser import MPEGDASHParser


def seconds(duration):
    """xs:duration (PTnHnMn.nS) to seconds."""
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", duration or "")
    if not m:
        return None
    h, mi, s = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


def name(template, rep_id, number, t):
    out = template.replace("$RepresentationID$", rep_id).replace("$Time$", str(t))
    return re.sub(r"\$Number(?:%0(\d+)d)?\$", lambda m: str(number).zfill(int(m.group(1) or 0)), out)


def check(path, mpd, final, errors, seen, starts, protections, bases, events):
    reps = {}
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    dynamic = mpd.type == "dynamic"
    if final and dynamic:
        errors.append(f"{path}: the final MPD is dynamic")
    if dynamic:
        for attr in ("availability_start_time", "publish_time", "minimum_update_period",
                     "suggested_presentation_delay"):
            if getattr(mpd, attr) is None:
                errors.append(f"{path}: dynamic without {attr}")
        if not mpd.utc_timings:
            errors.append(f"{path}: dynamic without UTCTiming")
    else:
        if seconds(mpd.media_presentation_duration) is None:
            errors.append(f"{path}: static without mediaPresentationDuration")
        if mpd.availability_start_time is not None or mpd.minimum_update_period is not None:
            errors.append(f"{path}: static with live attributes")
    if len(mpd.periods) != 1:
        errors.append(f"{path}: {len(mpd.periods)} periods")
    kinds = [a.content_type for a in mpd.periods[0].adaptation_sets]
    if len(set(kinds)) != len(kinds):
        errors.append(f"{path}: AdaptationSets {kinds}, not one per type")
    tsb = seconds(mpd.time_shift_buffer_depth) if mpd.time_shift_buffer_depth else None
    for aset in mpd.periods[0].adaptation_sets:
        for ies in aset.inband_event_streams or []:
            events.append((aset.content_type, ies.scheme_id_uri, ies.value))
        for cp in aset.content_protections or []:
            pssh = [p.pssh for p in (cp.pssh or [])]
            protections.append((aset.content_type, cp.scheme_id_uri, cp.value, cp.cenc_default_kid, pssh))
        if aset.start_with_sap is None:
            errors.append(f"{path}: {aset.content_type} without startWithSAP")
        for rep in aset.representations:
            if not rep.codecs or not rep.bandwidth:
                errors.append(f"{path}: {rep.id} without codecs or bandwidth")
            if aset.content_type == "video" and not (rep.width and rep.height and rep.frame_rate):
                errors.append(f"{path}: {rep.id} without width/height/frameRate")
            if aset.content_type == "audio" and not (
                rep.audio_sampling_rate and rep.audio_channel_configurations
            ):
                errors.append(f"{path}: {rep.id} without audioSamplingRate/AudioChannelConfiguration")
            if rep.segment_bases:
                # Single file: addressed through its sidx.
                sb = rep.segment_bases[0]
                if not (rep.base_urls and sb.index_range and sb.initializations):
                    errors.append(f"{path}: {rep.id} SegmentBase without BaseURL/indexRange/Initialization")
                    continue
                bases.append((rep.id, rep.base_urls[0].base_url_value, sb.initializations[0].range,
                              sb.index_range, sb.timescale, sb.presentation_time_offset or 0))
                continue
            st = rep.segment_templates[0]
            number = st.start_number if st.start_number is not None else 1
            by_time = "$Time$" in st.media
            # Low-latency: the last S is the segment being written, its d announced.
            # (mpegdash does not read SegmentTemplate@availabilityTimeComplete.)
            growing = 'availabilityTimeComplete="false"' in raw
            expanded = sum((s.r or 0) + 1 for s in st.segment_timelines[0].Ss)
            segs = []
            t = None
            for s in st.segment_timelines[0].Ss:
                if s.t is not None:
                    if t is not None and s.t != t:
                        errors.append(f"{path}: {rep.id} S@t {s.t} after a segment ending at {t}")
                    t = s.t
                elif t is None:
                    t = 0
                for _ in range((s.r or 0) + 1):
                    segs.append([name(st.media, rep.id, number, t), t, s.d])
                    key = (rep.id, t if by_time else number)
                    if growing and len(segs) == expanded:
                        old = seen.get(key, (t, s.d))
                    else:
                        old = seen.setdefault(key, (t, s.d))
                    if old != (t, s.d):
                        errors.append(f"{path}: {rep.id} segment {key} was {old}, now {(t, s.d)}")
                    number += 1
                    t += s.d
            if segs and dynamic:
                first = segs[0][1]
                if starts.get(rep.id, first) > first:
                    errors.append(f"{path}: {rep.id} window went back to {first}")
                starts[rep.id] = first
                listed = sum(d for _, _, d in segs) / st.timescale
                if dynamic and tsb is not None and listed > tsb + 1e-6:
                    errors.append(f"{path}: {rep.id} lists {listed} s > timeShiftBufferDepth {tsb}")
            reps[rep.id] = {
                "content": aset.content_type,
                "timescale": st.timescale,
                "pto": st.presentation_time_offset or 0,
                "init": st.initialization.replace("$RepresentationID$", rep.id),
                "segments": segs,
                "bandwidth": rep.bandwidth,
            }
    return reps


def producer_reference_times(path, errors, prts):
    """ProducerReferenceTime per Representation id: (wallClockTime in ms since the
    epoch, presentationTime); the same in every snapshot."""
    ns = "{urn:mpeg:dash:schema:mpd:2011}"
    for rep in ET.parse(path).getroot().iter(f"{ns}Representation"):
        for prt in rep.findall(f"{ns}ProducerReferenceTime"):
            wall = datetime.fromisoformat(prt.get("wallClockTime").replace("Z", "+00:00"))
            value = (round(wall.timestamp() * 1000), int(prt.get("presentationTime")))
            old = prts.setdefault(rep.get("id"), value)
            if old != value:
                errors.append(f"{path}: {rep.get('id')} ProducerReferenceTime was {old}, now {value}")


def utc_ms(text):
    """xs:dateTime in UTC to ms since the epoch."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def live_times(path, mpd, reps, lives):
    """A dynamic MPD's availabilityStartTime and publishTime (ms) and where its listed
    segments end (s of Period time, the latest over the Representations)."""
    if mpd.type != "dynamic" or not reps:
        return
    end = max(
        (r["segments"][-1][1] + r["segments"][-1][2] - r["pto"]) / r["timescale"]
        for r in reps.values()
        if r["segments"]
    )
    lives.append((path, utc_ms(mpd.availability_start_time), utc_ms(mpd.publish_time), end))


def main(paths):
    errors = []
    seen = {}
    starts = {}
    prts = {}
    lives = []
    last = None
    for i, path in enumerate(paths):
        try:
            producer_reference_times(path, errors, prts)
        except Exception as e:  # noqa: BLE001 - any parse failure is a finding
            errors.append(f"{path}: ProducerReferenceTime unreadable: {e}")
        try:
            mpd = MPEGDASHParser.parse(path)
        except Exception as e:  # noqa: BLE001 - any parse failure is a finding
            errors.append(f"{path}: does not parse: {e}")
            continue
        protections = []
        bases = []
        events = []
        reps = check(path, mpd, i == len(paths) - 1, errors, seen, starts, protections, bases,
                     events)
        try:
            live_times(path, mpd, reps, lives)
        except Exception as e:  # noqa: BLE001 - any parse failure is a finding
            errors.append(f"{path}: live times unreadable: {e}")
        last = {
            "type": mpd.type,
            "duration": seconds(mpd.media_presentation_duration)
            if mpd.media_presentation_duration
            else None,
            "availability_start_time": mpd.availability_start_time,
            "utc_timing": [u.value for u in (mpd.utc_timings or [])],
            "representations": reps,
            "protections": protections,
            "bases": bases,
            "events": events,
        }
    if errors:
        print("\n".join(errors))
        return 1
    duration = last["duration"]
    print(f"mpd {last['type']} {'-' if duration is None else repr(duration)}")
    for rid, url, init, index, ts, pto in last["bases"]:
        print(f"base {rid} {url} {init} {index} {ts} {pto}")
    for kind, scheme, value, kid, pssh in last["protections"]:
        print(f"cp {kind} {scheme} {value or '-'} {kid or '-'} {','.join(map(str, pssh)) or '-'}")
    for kind, scheme, value in last["events"]:
        print(f"ies {kind} {scheme} {value or '-'}")
    for path, ast, pub, end in lives:
        print(f"live {path} {ast} {pub} {end!r}")
    for rid, (wall, pt) in prts.items():
        print(f"prt {rid} {wall} {pt}")
    for rid, r in last["representations"].items():
        print(f"rep {rid} {r['content']} {r['timescale']} {r['pto']} {r['init']} {r['bandwidth']}")
        for n, t, d in r["segments"]:
            print(f"seg {rid} {n} {t} {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
