//! Headless Chromium plays the element's files through `<video src>` with HTTP Range
//! requests: a seek to the middle plays on from there (tests/browser/play.mjs).

mod support;

use support::judges;

fn write(mode: &str, name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("fragmp4-browser-{}-{}", std::process::id(), name));
    let launch = format!(
        "videotestsrc num-buffers=300 pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! mux.video_0 \
         audiotestsrc num-buffers=470 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0 \
         fragmp4mux name=mux mode={mode} fragment-duration=1000000000 ! filesink location={}",
        path.display()
    );
    support::pipeline::run_to_eos(&launch, 120);
    path
}

#[test]
fn chromium_seeks_and_plays_progressive_and_recorded_files() {
    for mode in ["progressive", "fragmented"] {
        let path = write(mode, &format!("{mode}.mp4"));
        let result = judges::chromium("play.mjs", &[path.as_os_str()]);
        assert!(
            result.contains("\"ok\":true") && result.contains("\"width\":640"),
            "{mode}: {result}"
        );
        let _ = std::fs::remove_file(path);
    }
}

/// Appends the output to a Media Source Extensions SourceBuffer, chunk by chunk, with the
/// codec string the element put in its caps.
fn mse(bytes: &[u8], caps: &gst::Caps, name: &str) -> String {
    let codecs = caps.structure(0).unwrap().get::<String>("codecs").unwrap();
    judges::mse_plays(&support::pipeline::temp_file(name, bytes), &codecs)
}

#[test]
fn chromium_plays_fragments_and_chunks_through_media_source_extensions() {
    for chunk in [0u64, 100_000_000] {
        let (_, output) = support::pipeline::run(&format!(
            "videotestsrc num-buffers=150 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
             ! x264enc bframes=2 key-int-max=30 speed-preset=ultrafast ! h264parse ! mux.video_0 \
             audiotestsrc num-buffers=235 ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.audio_0 \
             fragmp4mux name=mux fragment-duration=1000000000 chunk-duration={chunk} ! appsink name=sink"
        ));
        let result = mse(
            &output.bytes,
            output.caps.as_ref().unwrap(),
            &format!("mse-{chunk}.mp4"),
        );
        // One buffered range from the first frame to the end: no gaps between fragments.
        assert!(result.contains("\"ok\":true"), "{result}");
        if chunk > 0 {
            assert!(result.contains("\"chunks\":"), "{result}");
        }
    }
}
