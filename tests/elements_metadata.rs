//! What `gst-inspect-1.0` shows a user first: every element says what it handles now,
//! and the plugin names no invented origin.

mod support;

fn description(factory: &str) -> String {
    support::init();
    let f = gst::ElementFactory::find(factory).unwrap_or_else(|| panic!("{factory}"));
    f.metadata(gst::ELEMENT_METADATA_DESCRIPTION)
        .expect("description")
        .to_string()
}

const CODECS: [&str; 8] = ["H.264", "H.265", "VP9", "VP8", "AV1", "AAC", "Opus", "FLAC"];

#[test]
fn every_element_names_all_its_codecs() {
    for element in [
        "fragmp4mux",
        "fragmp4demux",
        "fragmp4hlssink",
        "fragmp4dashsink",
    ] {
        let text = description(element);
        for codec in CODECS {
            assert!(
                text.contains(codec),
                "{element}: {codec} missing in {text:?}"
            );
        }
    }
    assert!(description("fragmp4mux").contains("mode=progressive"));
    assert!(description("fragmp4demux").contains("passthrough"));
}

#[test]
fn the_plugin_origin_is_the_crate_itself() {
    support::init();
    let plugin = gst::Registry::get()
        .find_plugin("fragmp4")
        .expect("plugin registered");
    assert_eq!(
        plugin.origin().as_str(),
        concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"))
    );
    assert!(!plugin.description().contains("invalid"));
}
