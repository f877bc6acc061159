//! VP9 + Opus: sample entries from the caps, every sample exact, decoded by ffmpeg and
//! qtdemux, and played by Chromium through MSE with the reported codec string.

mod support;

use support::{check, judges, pipeline};

#[test]
fn vp9_and_opus() {
    let (inputs, output) = pipeline::run(
        "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
         ! vp9enc deadline=1 cpu-used=8 keyframe-max-dist=30 ! vp9parse ! mux.video_0 \
         audiotestsrc num-buffers=100 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=1000000000 ! appsink name=sink",
    );
    let mp4 = check::check_all(&inputs, &output, 1_000_000_000);
    let mp4_atom::Codec::Vp09(v) = mp4.codec(1) else {
        panic!("vp09 expected")
    };
    assert_eq!((v.vpcc.profile, v.vpcc.chroma_subsampling), (0, 1));
    let codecs = output.codecs();
    assert!(
        codecs.starts_with("vp09.00.") && codecs.ends_with(",opus"),
        "{codecs}"
    );
    let path = pipeline::temp_file("vp9_opus.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
    let decoded = judges::qtdemux_decode(&path, &["video_0", "audio_0"]);
    assert_eq!(decoded[0].frames, 60);
    assert!(decoded[1].frames > 0);
    judges::mse_plays(&path, &codecs);
}

#[test]
fn vp8_video() {
    let (inputs, output) = pipeline::run(
        "videotestsrc num-buffers=40 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=15 ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
    );
    let mp4 = support::mp4::parse(&output.bytes);
    check::check_samples(&inputs, &mp4);
    check::check_chunks(&mp4, 1);
    assert!(matches!(mp4.codec(1), mp4_atom::Codec::Vp08(_)));
    let path = pipeline::temp_file("vp8.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
}

#[test]
fn flac_audio() {
    let (inputs, output) = pipeline::run(
        "audiotestsrc num-buffers=60 ! audio/x-raw,format=S16LE,rate=44100,channels=2 ! flacenc ! flacparse ! mux.audio_0 \
         fragmp4mux name=mux fragment-duration=500000000 ! appsink name=sink",
    );
    let mp4 = support::mp4::parse(&output.bytes);
    check::check_samples(&inputs, &mp4);
    check::check_chunks(&mp4, 1);
    let mp4_atom::Codec::Flac(f) = mp4.codec(1) else {
        panic!("fLaC expected")
    };
    assert_eq!(f.audio.channel_count, 2);
    assert_eq!(mp4.timescale(1), 44100);
    let path = pipeline::temp_file("flac.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
    let decoded = judges::qtdemux_decode(&path, &["audio_0"]);
    assert!(decoded[0].frames > 0);
}

#[test]
fn av1_with_its_configuration_from_the_first_keyframe() {
    let (inputs, output) = pipeline::run(
        "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 \
         ! av1enc usage-profile=realtime cpu-used=8 keyframe-max-dist=30 ! av1parse \
         ! video/x-av1,stream-format=obu-stream,alignment=tu ! mux.video_0 \
         fragmp4mux name=mux fragment-duration=1000000000 ! appsink name=sink",
    );
    let mp4 = support::mp4::parse(&output.bytes);
    check::check_chunks(&mp4, 1);
    let mp4_atom::Codec::Av01(a) = mp4.codec(1) else {
        panic!("av01 expected")
    };
    assert_eq!(a.av1c.seq_profile, 0);
    // Samples are the input temporal units without their temporal delimiter OBU.
    let want: Vec<Vec<u8>> = check::expected(&inputs[0])
        .iter()
        .map(|b| {
            assert_eq!(
                &b.data[..2],
                &[0x12, 0x00],
                "av1parse output starts with a temporal delimiter"
            );
            b.data[2..].to_vec()
        })
        .collect();
    let got: Vec<Vec<u8>> = mp4.samples[&1].iter().map(|s| s.data.clone()).collect();
    assert_eq!(got, want);
    let codecs = output.codecs();
    assert!(
        codecs.starts_with("av01.0.") && codecs.ends_with("M.08"),
        "{codecs}"
    );
    let path = pipeline::temp_file("av1.mp4", &output.bytes);
    judges::ffmpeg_decodes(&path);
    judges::mse_plays(&path, &codecs);
}
