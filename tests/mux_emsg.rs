//! Timed events: ID3 tags on a `meta_%u` pad, SCTE-35 splice info, the `insert-event`
//! signal and the custom event become `emsg` boxes; mp4-atom reads each one back with
//! the scheme, time, duration and payload sent, before the moof of the chunk in which it
//! starts.

mod support;

use gst::prelude::*;
use gstfragmp4::events::{id3, scte35};
use mp4_atom::{Any, Decode, Emsg, EmsgTimestamp};
use support::{mp4, pipeline};

const MS: u64 = 1_000_000;

/// An event as read back from the file: the emsg, and the index of the chunk (moof)
/// that follows it.
struct Found {
    emsg: Emsg,
    chunk: usize,
}

fn emsgs(data: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut chunk = 0;
    let mut waiting = Vec::new();
    for (kind, at, size) in mp4::top_level_boxes(data) {
        match kind.as_str() {
            "emsg" => {
                let any = Any::decode(&mut &data[at..at + size]).expect("mp4-atom reads emsg");
                waiting.push(Emsg::try_from(any).expect("an emsg"));
            }
            "moof" => {
                out.extend(waiting.drain(..).map(|emsg| Found { emsg, chunk }));
                chunk += 1;
            }
            _ => {}
        }
    }
    assert!(waiting.is_empty(), "emsg after the last moof");
    out
}

/// Per chunk of the video track: its earliest PTS in ticks.
fn chunk_starts(file: &mp4::Mp4) -> Vec<i64> {
    let video = &file.samples[&1];
    (0..file.chunks.len())
        .map(|c| {
            video
                .iter()
                .filter(|s| s.chunk == c)
                .map(|s| s.pts)
                .min()
                .expect("video in every chunk")
        })
        .collect()
}

/// Runs H.264 (B-frames, 0.5 s GOPs, 3 s) into `fragmp4mux {props}` with an appsrc on
/// `meta_0` of `caps`; `feed` pushes into the appsrc and drives the muxer before the
/// pipeline plays. Returns the file's bytes and the muxer's stats.
fn run(
    name: &str,
    caps: &str,
    props: &str,
    feed: impl FnOnce(&gst_app::AppSrc, &gst::Element),
) -> (Vec<u8>, gst::Structure) {
    support::init();
    let path = std::env::temp_dir().join(format!("fragmp4-emsg-{}-{name}.mp4", std::process::id()));
    let launch = format!(
        "videotestsrc num-buffers=90 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=15 speed-preset=ultrafast ! h264parse ! m.video_0 \
         appsrc name=meta format=time caps={caps} ! m.meta_0 \
         fragmp4mux name=m fragment-duration=1000000000 {props} ! filesink location={}",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("meta")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let mux = p.by_name("m").unwrap();
    feed(&src, &mux);
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    let stats = mux.property::<gst::Structure>("stats");
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    (std::fs::read(&path).unwrap(), stats)
}

fn push(src: &gst_app::AppSrc, data: Vec<u8>, pts_ms: u64, duration_ms: Option<u64>) {
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(pts_ms * MS));
        b.set_duration(duration_ms.map(|d| gst::ClockTime::from_nseconds(d * MS)));
    }
    src.push_buffer(b).unwrap();
}

/// Checks that each event lies in the chunk after it: start ≤ time < next start.
fn check_placement(found: &[Found], starts: &[i64], timescale: u32) {
    for f in found {
        let EmsgTimestamp::Absolute(t) = f.emsg.presentation_time else {
            panic!("version 1 emsg expected");
        };
        assert_eq!(f.emsg.timescale, timescale);
        let t = t as i64;
        assert!(
            t >= starts[f.chunk],
            "event at {t} before its chunk starting at {}",
            starts[f.chunk]
        );
        if let Some(next) = starts.get(f.chunk + 1) {
            assert!(
                t < *next,
                "event at {t} belongs to a later chunk than {}",
                f.chunk
            );
        }
    }
}

#[test]
fn id3_tags_become_emsg_before_the_chunk_they_start_in() {
    let times = [250u64, 1100, 1500, 2900];
    let tags: Vec<Vec<u8>> = times
        .iter()
        .map(|t| id3::txxx_tag("t", &format!("tag at {t} ms")))
        .collect();
    let (data, stats) = run("id3", "meta/x-id3", "", |src, _| {
        for (t, tag) in times.iter().zip(&tags) {
            push(src, tag.clone(), *t, Some(100));
        }
        // Not an ID3 tag: dropped and counted.
        push(src, b"not a tag at all".to_vec(), 2000, None);
        let _ = src.end_of_stream();
    });
    let file = mp4::parse(&data);
    let found = emsgs(&data);
    assert_eq!(found.len(), times.len(), "one emsg per tag");
    assert_eq!(stats.get::<u64>("events").unwrap(), times.len() as u64);
    assert_eq!(stats.get::<u64>("dropped-events").unwrap(), 1);
    let ts = file.timescale(1);
    // The video's first PTS is running time 0: its tick is where events count from.
    let zero = file.samples[&1].iter().map(|s| s.pts).min().unwrap();
    let starts = chunk_starts(&file);
    for (i, f) in found.iter().enumerate() {
        assert_eq!(f.emsg.scheme_id_uri, "https://aomedia.org/emsg/ID3");
        assert_eq!(f.emsg.message_data, tags[i]);
        assert_eq!(f.emsg.id, i as u32);
        let expected = zero + (times[i] * u64::from(ts) / 1000) as i64;
        assert_eq!(
            f.emsg.presentation_time,
            EmsgTimestamp::Absolute(expected as u64)
        );
        assert_eq!(f.emsg.event_duration, 100 * ts / 1000);
    }
    check_placement(&found, &starts, ts);
    // 0.5 s GOPs cut at 1 s: the tag at 1.5 s is in the second fragment, not the first.
    assert!(found[2].chunk >= 1);
}

#[test]
fn scte35_splice_inserts_and_application_events() {
    let splice = scte35::splice_insert_section(42, 180_000, Some(15 * 90_000));
    let mut bad = scte35::splice_insert_section(43, 0, None);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let (data, stats) = run("scte35", "application/x-scte35", "", |src, mux| {
        push(src, splice.clone(), 2000, None);
        push(src, bad.clone(), 2100, None);
        let queued = mux.emit_by_name::<bool>(
            "insert-event",
            &[
                &"urn:example:app",
                &"v1",
                &(1200 * MS),
                &(500 * MS),
                &7u32,
                &gst::glib::Bytes::from_static(b"hello"),
            ],
        );
        assert!(queued);
        let unknown = mux.emit_by_name::<bool>(
            "insert-event",
            &[
                &"urn:example:app",
                &"v2",
                &(300 * MS),
                &u64::MAX,
                &8u32,
                &gst::glib::Bytes::from_static(b""),
            ],
        );
        assert!(unknown);
        // A custom downstream event, in the stream of the meta pad.
        let s = gst::Structure::builder("fragmp4-event")
            .field("scheme-id-uri", "urn:example:custom")
            .field("value", "x")
            .field("presentation-time", 2600 * MS)
            .field("id", 9u32)
            .field("data", gst::Buffer::from_slice(*b"custom"))
            .build();
        assert!(src.send_event(gst::event::CustomDownstream::new(s)));
        let _ = src.end_of_stream();
    });
    let file = mp4::parse(&data);
    let found = emsgs(&data);
    assert_eq!(stats.get::<u64>("dropped-events").unwrap(), 1, "bad CRC");
    let ts = file.timescale(1);
    let zero = file.samples[&1].iter().map(|s| s.pts).min().unwrap();
    let by_scheme = |s: &str| -> Vec<&Emsg> {
        found
            .iter()
            .map(|f| &f.emsg)
            .filter(|e| e.scheme_id_uri == s)
            .collect()
    };
    let scte = by_scheme("urn:scte:scte35:2013:bin");
    assert_eq!(scte.len(), 1);
    assert_eq!(scte[0].message_data, splice);
    assert_eq!(scte[0].id, 42);
    assert_eq!(scte[0].event_duration, 15 * ts);
    assert_eq!(
        scte[0].presentation_time,
        EmsgTimestamp::Absolute((zero + 2 * i64::from(ts)) as u64)
    );
    let app = by_scheme("urn:example:app");
    assert_eq!(app.len(), 2);
    assert_eq!(app[0].value, "v2");
    assert_eq!(app[0].event_duration, u32::MAX, "unknown duration");
    assert_eq!(app[1].value, "v1");
    assert_eq!(app[1].message_data, b"hello");
    assert_eq!(app[1].id, 7);
    assert_eq!(app[1].event_duration, ts / 2);
    assert_eq!(
        app[1].presentation_time,
        EmsgTimestamp::Absolute((zero + 1200 * i64::from(ts) / 1000) as u64)
    );
    let custom = by_scheme("urn:example:custom");
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0].message_data, b"custom");
    assert_eq!(custom[0].value, "x");
    check_placement(&found, &chunk_starts(&file), ts);
}

#[test]
fn emsg_version_0_counts_from_each_chunk() {
    let tag = id3::txxx_tag("t", "v0");
    let (data, _) = run("v0", "meta/x-id3", "emsg-version=0", |src, _| {
        push(src, tag.clone(), 1700, None);
        let _ = src.end_of_stream();
    });
    let file = mp4::parse(&data);
    let found = emsgs(&data);
    assert_eq!(found.len(), 1);
    let ts = file.timescale(1);
    let zero = file.samples[&1].iter().map(|s| s.pts).min().unwrap();
    let start = chunk_starts(&file)[found[0].chunk];
    let EmsgTimestamp::Relative(delta) = found[0].emsg.presentation_time else {
        panic!("version 0 expected");
    };
    assert_eq!(i64::from(delta), zero + 1700 * i64::from(ts) / 1000 - start);
    assert_eq!(found[0].emsg.message_data, tag);
}

/// Live: a meta pad that stays silent (no data, no EOS) after one tag holds nothing back.
#[test]
fn a_silent_live_meta_pad_is_not_a_stalled_pad() {
    support::init();
    let path = std::env::temp_dir().join(format!("fragmp4-emsg-{}-live.mp4", std::process::id()));
    let launch = format!(
        "videotestsrc is-live=true num-buffers=45 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=15 speed-preset=ultrafast ! h264parse ! m.video_0 \
         appsrc name=meta is-live=true min-latency=0 max-latency=10000000000 format=time caps=meta/x-id3 ! m.meta_0 \
         fragmp4mux name=m fragment-duration=500000000 ! filesink location={}",
        path.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("meta")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let tag = id3::txxx_tag("live", "one");
    push(&src, tag.clone(), 200, None);
    p.set_state(gst::State::Playing).expect("playing");
    let started = std::time::Instant::now();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 20);
    let took = started.elapsed();
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    // 1.5 s of live video, fragments pushed as they complete.
    assert!(took.as_secs_f64() < 5.0, "took {took:?}");
    let data = std::fs::read(&path).unwrap();
    let file = mp4::parse(&data);
    assert_eq!(file.samples[&1].len(), 45, "every frame written");
    let found = emsgs(&data);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].emsg.message_data, tag);
    assert_eq!(found[0].chunk, 0);
}

/// (pts, payload) of each FRAG_PARSING_METADATA sample in hls.mjs' JSON result.
fn hls_metadata(json: &str) -> Vec<(f64, Vec<u8>)> {
    let Some(list) = json.split("\"metadata\":[").nth(1) else {
        return Vec::new();
    };
    list.split("{\"pts\":")
        .skip(1)
        .map(|item| {
            let pts: f64 = item.split(',').next().unwrap().parse().unwrap();
            let hex = item
                .split("\"data\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let data = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (pts, data)
        })
        .collect()
}

/// fragmp4hlssink with a `meta_0` pad: hls.js in headless Chromium reports each ID3 tag
/// (FRAG_PARSING_METADATA) with its payload, at its time.
#[test]
fn hls_js_reads_the_id3_tags_at_their_times() {
    support::init();
    let d = std::env::temp_dir().join(format!("fragmp4-emsg-{}-hls", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let launch = format!(
        "videotestsrc num-buffers=120 pattern=ball ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! h.video_0 \
         appsrc name=meta format=time caps=meta/x-id3 ! h.meta_0 \
         fragmp4hlssink name=h target-duration=1 location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8",
        d.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("meta")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let times = [300u64, 1250, 2000, 3500];
    let tags: Vec<Vec<u8>> = times
        .iter()
        .map(|t| id3::txxx_tag("hls", &format!("tag at {t} ms")))
        .collect();
    for (t, tag) in times.iter().zip(&tags) {
        push(&src, tag.clone(), *t, None);
    }
    let _ = src.end_of_stream();
    p.set_state(gst::State::Playing).expect("playing");
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    let json = support::judges::chromium(
        "hls.mjs",
        &[d.as_os_str(), std::ffi::OsStr::new("playlist.m3u8")],
    );
    assert!(json.contains("\"ok\":true"), "{json}");
    let got = hls_metadata(&json);
    assert_eq!(got.len(), tags.len(), "{json}");
    // Where the video starts on hls.js' media timeline (the first frame's PTS, after
    // the B-frame delay): the tags sent at running time t lie t after it.
    let start: f64 = json
        .split("\"ranges\":[[")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no buffered range: {json}"));
    for (i, (pts, data)) in got.iter().enumerate() {
        assert_eq!(data, &tags[i], "payload of tag {i}");
        let expected = start + times[i] as f64 / 1000.0;
        assert!(
            (pts - expected).abs() < 0.001,
            "tag {i} at {pts} s, sent at {expected} s: {json}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// With CMAF chunks (and a sidx per fragment), each event goes before the chunk in
/// which it starts, not only before fragments.
#[test]
fn events_go_before_the_right_chunk() {
    let times = [150u64, 700, 1234, 2100];
    let tags: Vec<Vec<u8>> = times
        .iter()
        .map(|t| id3::txxx_tag("c", &t.to_string()))
        .collect();
    for (name, props) in [
        ("chunks", "chunk-duration=200000000"),
        ("sidx", "index=per-fragment"),
    ] {
        let (data, _) = run(name, "meta/x-id3", props, |src, _| {
            for (t, tag) in times.iter().zip(&tags) {
                push(src, tag.clone(), *t, None);
            }
            let _ = src.end_of_stream();
        });
        let file = mp4::parse(&data);
        let found = emsgs(&data);
        assert_eq!(found.len(), times.len(), "{name}");
        for (f, tag) in found.iter().zip(&tags) {
            assert_eq!(&f.emsg.message_data, tag, "{name}");
        }
        check_placement(&found, &chunk_starts(&file), file.timescale(1));
        if name == "chunks" {
            assert!(file.chunks.len() > 6, "chunks were written");
        }
    }
}

/// The events of a muxed file come back out of fragmp4demux (pull and push mode): an
/// element message and a custom downstream event per emsg, with scheme, id, payload and
/// time.
#[test]
fn fragmp4demux_gives_the_events_back() {
    let times = [250u64, 1100, 2900];
    let tags: Vec<Vec<u8>> = times
        .iter()
        .map(|t| id3::txxx_tag("rt", &t.to_string()))
        .collect();
    let (data, _) = run("demux", "meta/x-id3", "", |src, _| {
        for (t, tag) in times.iter().zip(&tags) {
            push(src, tag.clone(), *t, Some(40));
        }
        let _ = src.end_of_stream();
    });
    let file = mp4::parse(&data);
    let ts = u64::from(file.timescale(1));
    let zero = file.samples[&1].iter().map(|s| s.pts).min().unwrap() as u64;
    let path = pipeline::temp_file("emsg-demux.mp4", &data);
    for (mode, queue) in [("pull", ""), ("push", "! queue ")] {
        let launch = format!(
            "filesrc location={} {queue}! fragmp4demux name=d d.video_0 ! fakesink name=s",
            path.display()
        );
        let p = gst::parse::launch(&launch)
            .unwrap()
            .downcast::<gst::Bin>()
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(0usize));
        let counter = seen.clone();
        p.by_name("s")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if let Some(e) = info.event()
                    && e.structure().is_some_and(|s| s.name() == "fragmp4-event")
                {
                    *counter.lock().unwrap() += 1;
                }
                gst::PadProbeReturn::Ok
            });
        p.set_state(gst::State::Playing).unwrap();
        let bus = p.bus().unwrap();
        let mut got = Vec::new();
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
            match msg.view() {
                gst::MessageView::Element(e) => {
                    if let Some(s) = e.structure()
                        && s.name() == "fragmp4demux-event"
                    {
                        got.push(s.to_owned());
                    }
                }
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => panic!("{mode}: {e:?}"),
                _ => {}
            }
        }
        p.set_state(gst::State::Null).unwrap();
        assert_eq!(got.len(), times.len(), "{mode}: {got:?}");
        assert_eq!(*seen.lock().unwrap(), times.len(), "{mode}: custom events");
        for (i, s) in got.iter().enumerate() {
            assert_eq!(
                s.get::<String>("scheme-id-uri").unwrap(),
                "https://aomedia.org/emsg/ID3"
            );
            assert_eq!(s.get::<u32>("id").unwrap(), i as u32);
            let data = s.get::<gst::Buffer>("data").unwrap();
            assert_eq!(data.map_readable().unwrap().as_slice(), &tags[i][..]);
            let expected = (zero + times[i] * ts / 1000) * 1_000_000_000 / ts;
            assert_eq!(
                s.get::<u64>("presentation-time").unwrap(),
                expected,
                "{mode}"
            );
            assert_eq!(s.get::<u64>("duration").unwrap(), 40 * MS, "{mode}");
        }
    }
}

/// `fragmp4demux ! fragmp4mux`: the events cross over with their times and payloads.
#[test]
fn events_survive_a_demux_remux() {
    let times = [400u64, 1600];
    let tags: Vec<Vec<u8>> = times
        .iter()
        .map(|t| id3::txxx_tag("remux", &t.to_string()))
        .collect();
    let (data, _) = run("remux-src", "meta/x-id3", "", |src, _| {
        for (t, tag) in times.iter().zip(&tags) {
            push(src, tag.clone(), *t, None);
        }
        let _ = src.end_of_stream();
    });
    let before = emsgs(&data);
    let input = pipeline::temp_file("emsg-remux-in.mp4", &data);
    let output = input.with_file_name("emsg-remux-out.mp4");
    pipeline::run_to_eos(
        &format!(
            "filesrc location={} ! fragmp4demux name=d d.video_0 ! fragmp4mux fragment-duration=1000000000 \
             ! filesink location={}",
            input.display(),
            output.display()
        ),
        30,
    );
    let after_data = std::fs::read(&output).unwrap();
    let after = emsgs(&after_data);
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.emsg.message_data, b.emsg.message_data);
        assert_eq!(a.emsg.scheme_id_uri, b.emsg.scheme_id_uri);
        assert_eq!(a.emsg.presentation_time, b.emsg.presentation_time);
    }
    let file = mp4::parse(&after_data);
    check_placement(&after, &chunk_starts(&file), file.timescale(1));
}

/// SCTE-35 into fragmp4hlssink: the segments carry the emsg, the media playlist an
/// EXT-X-DATERANGE with the same section and time (read by PyPI m3u8).
#[test]
fn scte35_becomes_a_date_range_and_an_emsg() {
    support::init();
    let d = std::env::temp_dir().join(format!("fragmp4-emsg-{}-daterange", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let launch = format!(
        "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! h.video_0 \
         appsrc name=meta format=time caps=application/x-scte35 ! h.meta_0 \
         fragmp4hlssink name=h target-duration=1 location={0}/seg%05d.m4s init-location={0}/init%d.mp4 \
         playlist-location={0}/playlist.m3u8",
        d.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("meta")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    let section = scte35::splice_insert_section(77, 0, Some(15 * 90_000));
    push(&src, section.clone(), 1500, None);
    let _ = src.end_of_stream();
    p.set_state(gst::State::Playing).unwrap();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    let hex: String = section.iter().map(|b| format!("{b:02X}")).collect();
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import m3u8, sys\n\
             p = m3u8.load(sys.argv[1] + '/playlist.m3u8')\n\
             r = [x for s in p.segments for x in s.dateranges]\n\
             assert len(r) == 1, p.dumps()\n\
             r = r[0]\n\
             assert r.id == 'splice-77' and r.planned_duration == 15.0, p.dumps()\n\
             assert r.scte35_out == '0x' + sys.argv[2], (r.scte35_out, sys.argv[2])\n\
             import datetime\n\
             start = datetime.datetime.fromisoformat(r.start_date.replace('Z', '+00:00'))\n\
             d = (start - p.segments[0].current_program_date_time).total_seconds()\n\
             assert abs(d - 1.5) <= 0.0015, d\n\
             assert 'CUE' not in p.dumps(), 'cue tags only with cue-tags=true'\n",
        )
        .arg(&d)
        .arg(&hex)
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The emsg of the same section, in the segment where it starts.
    let mut bytes = std::fs::read(d.join("init0.mp4")).unwrap();
    for i in 0..3 {
        bytes.extend(std::fs::read(d.join(format!("seg{i:05}.m4s"))).unwrap());
    }
    let found = emsgs(&bytes);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].emsg.message_data, section);
    assert_eq!(found[0].emsg.id, 77);
    let file = mp4::parse(&bytes);
    check_placement(&found, &chunk_starts(&file), file.timescale(1));
    let _ = std::fs::remove_dir_all(&d);
}

/// `cue-tags=true`: the breaks of SCTE-35 splice inserts as `EXT-X-CUE-OUT` before the
/// segment in which each starts (`DURATION` from its break duration) and `EXT-X-CUE-IN`
/// before the one in which it ends (out time + duration, or a splice back in), as PyPI
/// m3u8 reads them; the segments are located from the playlist's own durations.
#[test]
fn cue_tags_mark_the_segments_of_each_break() {
    support::init();
    let d = std::env::temp_dir().join(format!("fragmp4-emsg-{}-cues", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let launch = format!(
        "videotestsrc num-buffers=150 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! h.video_0 \
         appsrc name=meta format=time caps=application/x-scte35 ! h.meta_0 \
         fragmp4hlssink name=h target-duration=1 cue-tags=true location={0}/seg%05d.m4s \
         init-location={0}/init%d.mp4 playlist-location={0}/playlist.m3u8",
        d.display()
    );
    let p = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let src = p
        .by_name("meta")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    // (time ms, out?, break duration ms): a 1.2 s break at 0.5 s, then one from 2.2 s
    // without a duration that a splice back in ends at 3.5 s.
    let splices = [
        (500u64, true, Some(1200u64)),
        (2200, true, None),
        (3500, false, None),
    ];
    for (i, (at, out, dur)) in splices.iter().enumerate() {
        let section = if *out {
            scte35::splice_insert_section(i as u32, 0, dur.map(|d| d * 90))
        } else {
            scte35::splice_return_section(1, 0)
        };
        push(&src, section, *at, None);
    }
    let _ = src.end_of_stream();
    p.set_state(gst::State::Playing).unwrap();
    let result = pipeline::wait_for_eos(&p.bus().unwrap(), 60);
    p.set_state(gst::State::Null).unwrap();
    result.unwrap_or_else(|e| panic!("{launch}: {e}"));
    // Expected: (segment holding the time, tag); the break ends as sent.
    let expect =
        "[(0.5, 'out', '1.200'), (1.7, 'in', None), (2.2, 'out', None), (3.5, 'in', None)]";
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import m3u8, sys\n\
             p = m3u8.load(sys.argv[1] + '/playlist.m3u8')\n\
             ends, t = [], 0.0\n\
             for s in p.segments:\n\
             \x20   t += s.duration\n\
             \x20   ends.append(t)\n\
             assert len(ends) == 5, p.dumps()\n\
             at = lambda x: next(i for i, e in enumerate(ends) if x < e)\n\
             want = [(at(x), k, d) for (x, k, d) in eval(sys.argv[2])]\n\
             got = []\n\
             for i, s in enumerate(p.segments):\n\
             \x20   if s.cue_in: got.append((i, 'in', None))\n\
             \x20   if s.cue_out_start: got.append((i, 'out', s.scte35_duration))\n\
             got.sort(key=lambda g: (g[0], g[1] == 'out'))\n\
             assert got == want, (got, want, p.dumps())\n\
             text = open(sys.argv[1] + '/playlist.m3u8').read()\n\
             assert text.count('#EXT-X-CUE-OUT:DURATION=1.200\\n') == 1, text\n\
             assert len(p.segments[0].dateranges) + sum(len(s.dateranges) for s in p.segments[1:]) == 3\n",
        )
        .arg(&d)
        .arg(expect)
        .output()
        .expect("python3 runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _ = std::fs::remove_dir_all(&d);
}
