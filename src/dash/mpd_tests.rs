use super::*;

const S: u64 = 1_000_000_000;

fn video(segments: &[(u64, u64)]) -> Representation {
    Representation {
        id: "video_0".into(),
        codecs: "avc1.64001f".into(),
        bandwidth: 500_000,
        media: Media::Video {
            width: Some(320),
            height: Some(240),
            frame_rate: Some((30000, 1001)),
        },
        timescale: 30000,
        presentation_time_offset: 2002,
        start_number: 1,
        segments: segments.iter().map(|&(t, d)| Entry { t, d }).collect(),
        end: None,
        single_file: None,
        event_schemes: Vec::new(),
    }
}

fn audio(segments: &[(u64, u64)]) -> Representation {
    Representation {
        id: "audio_1".into(),
        codecs: "mp4a.40.2".into(),
        bandwidth: 64_000,
        media: Media::Audio {
            rate: Some(48000),
            channels: Some(2),
        },
        timescale: 48000,
        presentation_time_offset: 0,
        start_number: 1,
        segments: segments.iter().map(|&(t, d)| Entry { t, d }).collect(),
        end: None,
        single_file: None,
        event_schemes: Vec::new(),
    }
}

fn mpd(kind: Kind, reps: Vec<Representation>) -> Mpd {
    Mpd {
        kind,
        addressing: Addressing::Number,
        initialization: "$RepresentationID$-init.mp4".into(),
        media_prefix: "$RepresentationID$-".into(),
        media_suffix: ".m4s".into(),
        min_buffer_ns: 2 * S,
        max_segment_ns: 2 * S,
        representations: reps,
        protection: None,
    }
}

#[test]
fn contiguous_equal_segments_make_one_run() {
    let e: VecDeque<Entry> = [
        (2002, 60060),
        (62062, 60060),
        (122122, 60060),
        (182182, 1001),
    ]
    .iter()
    .map(|&(t, d)| Entry { t, d })
    .collect();
    assert_eq!(runs(&e), [(2002, 60060, 2), (182182, 1001, 0)]);
    // A gap starts a new S with its own t.
    let gap: VecDeque<Entry> = [(0, 10), (10, 10), (25, 10)]
        .iter()
        .map(|&(t, d)| Entry { t, d })
        .collect();
    assert_eq!(runs(&gap), [(0, 10, 1), (25, 10, 0)]);
}

#[test]
fn static_mpd_lists_sets_per_media_type_with_exact_duration() {
    let mut v = video(&[(2002, 60060), (62062, 60060), (122122, 30030)]);
    v.end = Some(152152 + 1001);
    let a = audio(&[(0, 96256), (96256, 96256), (192512, 47104)]);
    let text = mpd(Kind::Static, vec![v, a]).render();
    assert!(text.contains("type=\"static\""), "{text}");
    // Video: (153153 - 2002) / 30000 s = 5.0383666...; audio: 239616 / 48000 = 4.992 s.
    assert!(
        text.contains("mediaPresentationDuration=\"PT5.038366666S\""),
        "{text}"
    );
    assert!(text.contains(
        "<AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">"
    ));
    assert!(text.contains(
        "<Representation id=\"video_0\" codecs=\"avc1.64001f\" bandwidth=\"500000\" width=\"320\" height=\"240\" frameRate=\"30000/1001\">"
    ));
    assert!(text.contains(
        "<SegmentTemplate timescale=\"30000\" presentationTimeOffset=\"2002\" initialization=\"$RepresentationID$-init.mp4\" media=\"$RepresentationID$-$Number%05d$.m4s\" startNumber=\"1\">"
    ));
    assert!(text.contains(
        "<S t=\"2002\" d=\"60060\" r=\"1\"/>\n            <S t=\"122122\" d=\"30030\"/>"
    ));
    assert!(text.contains("audioSamplingRate=\"48000\">"));
    assert!(text.contains(
        "<AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\"/>"
    ));
    assert!(!text.contains("UTCTiming"));
    assert!(!text.contains("availabilityStartTime"));
}

#[test]
fn dynamic_mpd_carries_availability_window_and_timing() {
    let live = Live {
        availability_start_ms: 1_764_768_069_123,
        publish_ms: 1_764_768_079_000,
        minimum_update_period_ns: 2 * S,
        time_shift_buffer_ns: Some(10 * S),
        suggested_presentation_delay_ns: 6 * S,
        utc_timing_url: Some("http://127.0.0.1:8080/time".into()),
        low_latency: None,
    };
    let mut v = video(&[(2002, 60060)]);
    v.start_number = 7;
    let m = mpd(Kind::Dynamic(live.clone()), vec![v]);
    let text = m.render();
    assert!(text.contains("type=\"dynamic\" availabilityStartTime=\"2025-12-03T13:21:09.123Z\" publishTime=\"2025-12-03T13:21:19.000Z\" minimumUpdatePeriod=\"PT2S\" suggestedPresentationDelay=\"PT6S\" timeShiftBufferDepth=\"PT10S\""), "{text}");
    assert!(text.contains("startNumber=\"7\""));
    assert!(text.contains(
        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"http://127.0.0.1:8080/time\"/>"
    ));
    assert!(!text.contains("mediaPresentationDuration"));
    assert!(!text.contains("ServiceDescription"));
    // Without a time server the MPD says the time itself.
    let mut direct = live;
    direct.utc_timing_url = None;
    let text = mpd(Kind::Dynamic(direct), vec![video(&[(2002, 60060)])]).render();
    assert!(text.contains(
        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"2025-12-03T13:21:19.000Z\"/>"
    ));
}

#[test]
fn low_latency_adds_offsets_service_description_and_reference_time() {
    let live = Live {
        availability_start_ms: 0,
        publish_ms: 1000,
        minimum_update_period_ns: S,
        time_shift_buffer_ns: None,
        suggested_presentation_delay_ns: S,
        utc_timing_url: None,
        low_latency: Some(LowLatency {
            availability_time_offset_ns: 1_800_000_000,
            target_latency_ms: 1500,
            reference: Some((5000, 2 * S)),
        }),
    };
    let text = mpd(Kind::Dynamic(live), vec![audio(&[(0, 96000)])]).render();
    assert!(text.contains("availabilityTimeOffset=\"1.8\" availabilityTimeComplete=\"false\""));
    assert!(text.contains("<Latency target=\"1500\" min=\"750\" max=\"3000\"/>"));
    assert!(text.contains(
        "<ProducerReferenceTime id=\"0\" type=\"encoder\" wallClockTime=\"1970-01-01T00:00:05.000Z\" presentationTime=\"96000\"/>"
    ));
    assert!(text.contains("urn:mpeg:dash:profile:cmaf:2019"));
}

#[test]
fn time_addressing_names_segments_by_their_start() {
    let mut m = mpd(Kind::Static, vec![video(&[(2002, 60060)])]);
    assert_eq!(m.segment_name("video_0", 3, 2002), "video_0-00003.m4s");
    m.addressing = Addressing::Time;
    assert_eq!(m.media_template(), "$RepresentationID$-$Time$.m4s");
    assert_eq!(m.segment_name("video_0", 3, 2002), "video_0-2002.m4s");
    assert_eq!(m.init_name("audio_1"), "audio_1-init.mp4");
    assert!(!m.render().contains("startNumber"));
}

#[test]
fn unaligned_sets_say_so() {
    let mut v2 = video(&[(2002, 30030), (32032, 30030)]);
    v2.id = "video_2".into();
    let text = mpd(Kind::Static, vec![video(&[(2002, 60060)]), v2]).render();
    assert!(text.contains("segmentAlignment=\"false\""));
}

#[test]
fn times_and_text_are_written_exactly() {
    assert_eq!(duration(0), "PT0S");
    assert_eq!(duration(10_033_366_667), "PT10.033366667S");
    assert_eq!(date_time(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(date_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(date_time(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos;");
    // Ticks written as floor(tick × 10⁹ / ts) come back exactly.
    for ts in [90000u32, 30000, 48000, 44100, 1000] {
        for tick in [0u64, 1, 2, 3, 1001, 123_456_789] {
            assert_eq!(
                tick_of_floored_ns(ticks_to_ns(tick, ts), ts),
                tick,
                "{ts} {tick}"
            );
        }
    }
    assert_eq!(ns_to_ticks(66_666_666, 90000), 6000);
}

#[test]
fn encrypted_sets_carry_content_protection_per_system() {
    let mut m = mpd(
        Kind::Static,
        vec![video(&[(2002, 60060)]), audio(&[(0, 96256)])],
    );
    let mut kid = [0u8; 16];
    kid[0] = 0x10;
    kid[15] = 0x01;
    let clearkey = [
        0xe2, 0x71, 0x9d, 0x58, 0xa9, 0x85, 0xb3, 0xc9, 0x78, 0x1a, 0xb0, 0x30, 0xaf, 0x78, 0xd3,
        0x0e,
    ];
    m.protection = Some(Protection {
        scheme: "cenc".into(),
        default_kid: kid,
        systems: vec![(clearkey, "AAAANHBzc2g=".into())],
    });
    let text = m.render();
    assert!(text.contains(
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:cenc=\"urn:mpeg:cenc:2013\""
    ));
    let cp = "<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"cenc\" cenc:default_KID=\"10000000-0000-0000-0000-000000000001\"/>";
    assert_eq!(text.matches(cp).count(), 2, "one per AdaptationSet: {text}");
    assert!(text.contains(
        "<ContentProtection schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e\">\n        <cenc:pssh>AAAANHBzc2g=</cenc:pssh>"
    ));
}

#[test]
fn single_files_are_addressed_through_their_index() {
    let mut v = video(&[(2002, 60060)]);
    v.single_file = Some(SingleFile {
        url: "video_0.mp4".into(),
        init_len: 700,
        index: (700, 56),
    });
    let text = mpd(Kind::Static, vec![v]).render();
    assert!(text.contains(
        "<BaseURL>video_0.mp4</BaseURL>\n        <SegmentBase timescale=\"30000\" presentationTimeOffset=\"2002\" indexRange=\"700-755\" indexRangeExact=\"true\">\n          <Initialization range=\"0-699\"/>\n        </SegmentBase>"
    ), "{text}");
    assert!(!text.contains("SegmentTemplate"));
}

#[test]
fn inband_event_streams_are_listed_once_in_the_set_of_their_track() {
    let mut v = video(&[(2002, 30030)]);
    v.event_schemes = vec![
        ("urn:scte:scte35:2013:bin".into(), String::new()),
        ("https://aomedia.org/emsg/ID3".into(), String::new()),
    ];
    let x = mpd(Kind::Static, vec![v, audio(&[(0, 48000)])]).render();
    let video_set =
        &x[x.find("contentType=\"video\"").unwrap()..x.find("contentType=\"audio\"").unwrap()];
    assert!(video_set.contains(
        "<InbandEventStream schemeIdUri=\"urn:scte:scte35:2013:bin\" value=\"\"/>\n      <InbandEventStream schemeIdUri=\"https://aomedia.org/emsg/ID3\" value=\"\"/>\n      <Representation"
    ), "{x}");
    assert_eq!(x.matches("InbandEventStream").count(), 2, "{x}");
}
