use super::*;

const PART: u64 = 200_000;

/// A playlist of `segments` complete 1 s segments of five 200 ms parts (the first of
/// each independent), then `parts` parts of the next one, with PDT from `t0`.
fn live(segments: u64, parts: u64, window: usize) -> LlPlaylist {
    let mut p = LlPlaylist::new(1, Some(PART), window);
    let t0 = 1_700_000_000_000i64;
    for n in 0..=segments {
        let mut s = Segment::new(
            format!("seg{n}.m4s"),
            "init0.mp4".into(),
            false,
            Some(t0 + n as i64 * 1000),
        );
        let count = if n == segments { parts } else { 5 };
        for k in 0..count {
            s.push_part(Part {
                duration_us: PART,
                independent: k == 0,
                uri: format!("seg{n}.{k}.m4s"),
                byterange: None,
            });
        }
        p.start(s);
    }
    p.hint = Some(Hint {
        uri: format!("seg{segments}.{parts}.m4s"),
        byterange_start: None,
    });
    p
}

fn value(text: &str, tag: &str, attr: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("no {tag}"));
    let at = line.find(&format!("{attr}=")).unwrap() + attr.len() + 1;
    line[at..].split(',').next().unwrap().parse().unwrap()
}

/// (EXTINF µs, part durations µs) of each segment listed with its parts.
fn segments_with_parts(text: &str) -> Vec<(u64, Vec<u64>)> {
    let us = |s: &str| {
        let (a, b) = s.split_once('.').unwrap();
        a.parse::<u64>().unwrap() * 1_000_000 + b.parse::<u64>().unwrap()
    };
    let mut out = Vec::new();
    let mut parts = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("#EXT-X-PART:DURATION=") {
            parts.push(us(rest.split(',').next().unwrap()));
        } else if let Some(rest) = l.strip_prefix("#EXTINF:") {
            let d = us(rest.trim_end_matches(','));
            if !parts.is_empty() {
                out.push((d, std::mem::take(&mut parts)));
            }
        }
    }
    out
}

#[test]
fn server_control_hold_backs_follow_the_targets() {
    let text = live(4, 2, 0).render(Skip::No);
    let part_target = value(&text, "#EXT-X-PART-INF", "PART-TARGET");
    assert_eq!(part_target, 0.2);
    assert!(value(&text, "#EXT-X-SERVER-CONTROL", "PART-HOLD-BACK") >= 3.0 * part_target - 1e-9);
    assert!(value(&text, "#EXT-X-SERVER-CONTROL", ",HOLD-BACK") >= 3.0);
    assert!(value(&text, "#EXT-X-SERVER-CONTROL", "CAN-SKIP-UNTIL") >= 6.0);
    assert!(text.contains("CAN-BLOCK-RELOAD=YES"));
    assert!(
        text.contains("#EXT-X-VERSION:9\n"),
        "EXT-X-SKIP needs version 9"
    );
}

#[test]
fn parts_sum_to_extinf_and_only_recent_segments_keep_them() {
    let mut p = LlPlaylist::new(1, Some(PART), 0);
    // Parts of uneven length, the last of each segment shorter.
    let lengths = [199_999, 200_001, 200_000, 166_667, 100_333];
    for n in 0..6 {
        let mut s = Segment::new(format!("s{n}.m4s"), "i.mp4".into(), false, None);
        for (k, d) in lengths.iter().enumerate() {
            s.push_part(Part {
                duration_us: *d,
                independent: k == 0,
                uri: format!("s{n}.{k}.m4s"),
                byterange: None,
            });
        }
        p.start(s);
    }
    let text = p.render(Skip::No);
    let listed = segments_with_parts(&text);
    // 5 complete segments of 0.867 s and the current one (0.867 s, not an EXTINF yet):
    // parts for the complete segments within the last 3 s.
    assert_eq!(listed.len(), 2, "{text}");
    for (extinf, parts) in &listed {
        assert_eq!(*extinf, parts.iter().sum::<u64>(), "to the microsecond");
        assert!(parts.iter().all(|d| *d <= PART + 1));
    }
    assert!(!text.contains("URI=\"s0.0.m4s\""), "old parts dropped");
    assert!(
        text.contains("URI=\"s5.4.m4s\""),
        "the current segment's parts"
    );
    assert_eq!(
        p.progress().parts_of,
        vec![(3, 5), (4, 5)],
        "blocking reload sees the parts listed"
    );
}

#[test]
fn independent_only_on_keyframe_parts() {
    let text = live(3, 3, 0).render(Skip::No);
    for l in text.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
        let first = l.contains(".0.m4s\"");
        assert_eq!(l.contains("INDEPENDENT=YES"), first, "{l}");
    }
}

#[test]
fn preload_hint_names_the_next_part_and_progress_counts_parts() {
    let p = live(3, 2, 0);
    let text = p.render(Skip::No);
    assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"seg3.2.m4s\"\n"));
    let pr = p.progress();
    assert_eq!((pr.next_msn, pr.parts_done), (3, 2));
    assert_eq!(pr.part_target, Some(Duration::from_millis(200)));
    assert_eq!(p.last(), (3, Some(1)));
    assert!(!text.contains("ENDLIST"));
}

#[test]
fn byterange_parts_name_the_segment_file() {
    let mut p = LlPlaylist::new(1, Some(PART), 0);
    let mut s = Segment::new("s0.m4s".into(), "i.mp4".into(), false, None);
    s.push_part(Part {
        duration_us: PART,
        independent: true,
        uri: "s0.m4s".into(),
        byterange: Some((1000, 0)),
    });
    s.push_part(Part {
        duration_us: PART,
        independent: false,
        uri: "s0.m4s".into(),
        byterange: Some((800, 1000)),
    });
    p.start(s);
    p.hint = Some(Hint {
        uri: "s0.m4s".into(),
        byterange_start: Some(1800),
    });
    let text = p.render(Skip::No);
    assert!(text.contains("URI=\"s0.m4s\",BYTERANGE=\"800@1000\"\n"));
    assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s0.m4s\",BYTERANGE-START=1800\n"));
}

#[test]
fn delta_update_is_the_full_playlist_minus_the_skipped_segments() {
    let p = live(12, 2, 0);
    let full = p.render(Skip::No);
    let delta = p.render(Skip::Segments);
    // 12 s of complete segments + 0.4 s: those ending more than 6 s before the end go.
    let skipped = 6;
    assert!(delta.contains(&format!("#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}\n")));
    let drop_segments = |text: &str, from: usize| -> Vec<String> {
        // Lines after the header, minus the first `from` segments (PDT, EXTINF, URI).
        let body: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("#EXT-X-MAP"))
            .collect();
        let mut out = Vec::new();
        let mut seen = 0;
        for l in body {
            if seen >= from || l.starts_with("#EXT-X-MAP") {
                out.push(l.to_string());
            }
            if !l.starts_with('#') {
                seen += 1;
            }
        }
        out
    };
    assert_eq!(drop_segments(&full, skipped), drop_segments(&delta, 0));
    assert!(!delta.contains("seg5.m4s\n") && delta.contains("seg6.m4s\n"));
    // Same header otherwise.
    let header = |t: &str| t.lines().take(7).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(header(&full), header(&delta));
    // Too short to skip anything: no SKIP tag.
    assert!(!live(5, 0, 0).render(Skip::Segments).contains("EXT-X-SKIP"));
}

#[test]
fn program_date_time_follows_extinf() {
    let text = live(4, 2, 0).render(Skip::No);
    let pdts: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .collect();
    assert_eq!(pdts.len(), 5);
    assert_eq!(pdts[0], "2023-11-14T22:13:20.000Z");
    assert_eq!(pdts[1], "2023-11-14T22:13:21.000Z", "one EXTINF later");
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
}

#[test]
fn end_lists_everything_and_drops_the_hint() {
    let mut p = live(2, 3, 0);
    p.end();
    let text = p.render(Skip::Segments);
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(!text.contains("PRELOAD-HINT"));
    assert!(text.contains("#EXTINF:0.600000,\nseg2.m4s\n"));
    assert!(p.progress().ended);
}

#[test]
fn sliding_window_and_reports() {
    let mut p = live(6, 1, 3);
    p.reports.push(Report {
        uri: "../low/playlist.m3u8".into(),
        last_msn: 6,
        last_part: Some(0),
    });
    let text = p.render(Skip::No);
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n"));
    assert!(
        text.contains(
            "#EXT-X-RENDITION-REPORT:URI=\"../low/playlist.m3u8\",LAST-MSN=6,LAST-PART=0\n"
        )
    );
    assert_eq!(p.progress().next_msn, 6);
}

#[test]
fn the_key_follows_each_map() {
    let mut p = live(2, 2, 0).with_key(Some("METHOD=SAMPLE-AES-CTR,URI=\"k\"".into()));
    let text = p.render(Skip::No);
    let map = text.find("#EXT-X-MAP:").expect("map");
    let next = text[map..].lines().nth(1).unwrap();
    assert_eq!(next, "#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI=\"k\"");
    p.key = None;
    assert!(!p.render(Skip::No).contains("EXT-X-KEY"));
}
