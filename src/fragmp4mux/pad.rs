//! The sink pad type: an aggregator pad with per-track settings.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use std::sync::Mutex;

glib::wrapper! {
    /// A request sink pad of `fragmp4mux`; one pad is one track.
    pub struct FragMp4MuxPad(ObjectSubclass<imp::FragMp4MuxPad>)
        @extends gst_base::AggregatorPad, gst::Pad, gst::Object;
}

impl FragMp4MuxPad {
    /// The media timescale the user forced on this pad, if any.
    pub fn timescale_override(&self) -> Option<u32> {
        let t = *self
            .imp()
            .timescale
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (t > 0).then_some(t)
    }

    /// This track's encryption settings: `element`'s, with the pad's own in place.
    pub fn protect_settings(
        &self,
        element: &super::protect::ProtectSettings,
    ) -> super::protect::ProtectSettings {
        self.imp()
            .protect
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .apply(element)
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct FragMp4MuxPad {
        pub(super) timescale: Mutex<u32>,
        pub(super) protect: Mutex<super::super::protect::PadProtect>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for FragMp4MuxPad {
        const NAME: &'static str = "GstFragMp4MuxPad";
        type Type = super::FragMp4MuxPad;
        type ParentType = gst_base::AggregatorPad;
    }

    impl ObjectImpl for FragMp4MuxPad {
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPS: std::sync::LazyLock<Vec<glib::ParamSpec>> = std::sync::LazyLock::new(
                || {
                    let mut specs = vec![
                        glib::ParamSpecUInt::builder("timescale")
                            .nick("Timescale")
                            .blurb("Media timescale of this track in ticks per second (0 = from the caps: sample rate for audio, 90000 or the frame rate for video)")
                            .default_value(0)
                            .mutable_ready()
                            .build(),
                    ];
                    // The element's encryption properties, per track: a value set on the
                    // pad wins over the element's.
                    specs.extend(super::super::protect::param_specs());
                    specs
                },
            );
            PROPS.as_ref()
        }

        fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
            match pspec.name() {
                "timescale" => {
                    *self.timescale.lock().unwrap_or_else(|e| e.into_inner()) =
                        value.get().unwrap_or(0)
                }
                name => self
                    .protect
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set(name, value),
            }
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "timescale" => self
                    .timescale
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .to_value(),
                name => self
                    .protect
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(name),
            }
        }
    }

    impl GstObjectImpl for FragMp4MuxPad {}
    impl PadImpl for FragMp4MuxPad {}
    impl AggregatorPadImpl for FragMp4MuxPad {}
}
