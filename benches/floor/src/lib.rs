//! The benchmark's floor: a GStreamer plugin with one element, `benchfloor`, a minimal
//! `GstAggregator` subclass that only passes buffers through. `scripts/bench.sh` builds it
//! on its own and loads it like the muxers (`GST_PLUGIN_PATH`), so it pays the same
//! process, plugin-loading and pipeline costs; the plugin gst-plugin-fragmp4 never
//! contains it.
//!
//! `benchfloor` queues like `fragmp4mux` does (the aggregator's `latency`, 500 ms, lets
//! each sink pad hold that much) and interleaves as any muxer must: it holds the buffer
//! it popped last from each pad and passes on the one with the earliest DTS (PTS without
//! one), until a pad has nothing queued; each wake-up pushes what it passed on, untouched,
//! in one buffer list. (Taking everything queued without ordering can starve a pad
//! behind a demuxer, which interleaves by time.) That is what any muxer built on
//! `GstAggregator` costs before it looks at a sample: one pop per buffer, one push per
//! wake-up.

use gst::glib;
use gst::prelude::*;

mod floor {
    use std::sync::LazyLock;

    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;
    use gst_base::prelude::*;
    use gst_base::subclass::prelude::*;

    /// Same pad queueing as `fragmp4mux` with its default 2 s fragments.
    const PAD_QUEUE_TIME: u64 = 500_000_000;

    #[derive(Default)]
    struct State {
        caps_sent: bool,
        /// One buffer popped from each pad, waiting for its turn in decode order.
        held: Vec<Option<gst::Buffer>>,
    }

    #[derive(Default)]
    pub struct Floor {
        state: std::sync::Mutex<State>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Floor {
        const NAME: &'static str = "GstBenchFloor";
        type Type = super::Floor;
        type ParentType = gst_base::Aggregator;
    }

    impl ObjectImpl for Floor {
        fn constructed(&self) {
            self.parent_constructed();
            self.obj().set_property("latency", PAD_QUEUE_TIME);
        }
    }

    impl GstObjectImpl for Floor {}

    impl ElementImpl for Floor {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "Benchmark floor",
                    "Generic",
                    "Passes every buffer of every sink pad through (benchmark only)",
                    "gst-plugin-fragmp4 developers",
                )
            });
            Some(&*META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let any = gst::Caps::new_any();
                vec![
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &any,
                    )
                    .expect("valid src template"),
                    gst::PadTemplate::with_gtype(
                        "sink_%u",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Request,
                        &any,
                        gst_base::AggregatorPad::static_type(),
                    )
                    .expect("valid sink template"),
                ]
            });
            TEMPLATES.as_ref()
        }
    }

    impl AggregatorImpl for Floor {
        fn aggregate(&self, _timeout: bool) -> Result<gst::FlowSuccess, gst::FlowError> {
            let obj = self.obj();
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !state.caps_sent {
                state.caps_sent = true;
                obj.set_src_caps(&gst::Caps::new_empty_simple("application/x-bench-floor"));
            }
            let pads: Vec<gst_base::AggregatorPad> = obj
                .sink_pads()
                .into_iter()
                .filter_map(|p| p.downcast().ok())
                .collect();
            state.held.resize_with(pads.len(), || None);
            let mut list = gst::BufferList::new();
            let mut all_eos = false;
            {
                let list = list.get_mut().expect("new list is writable");
                loop {
                    // Refill the empty slots; stop when a pad has nothing yet.
                    let mut waiting = false;
                    for (pad, held) in pads.iter().zip(state.held.iter_mut()) {
                        if held.is_none() {
                            *held = pad.pop_buffer();
                            waiting |= held.is_none() && !pad.is_eos();
                        }
                    }
                    if waiting {
                        break;
                    }
                    let earliest = state
                        .held
                        .iter()
                        .enumerate()
                        .filter_map(|(i, b)| b.as_ref().map(|b| (i, b.dts_or_pts())))
                        .min_by_key(|(_, t)| *t);
                    let Some((i, _)) = earliest else {
                        all_eos = true;
                        break;
                    };
                    if let Some(buf) = state.held[i].take() {
                        list.add(buf);
                    }
                }
            }
            drop(state);
            if !list.is_empty() {
                obj.finish_buffer_list(list)?;
            }
            if all_eos {
                return Err(gst::FlowError::Eos);
            }
            Ok(gst::FlowSuccess::Ok)
        }

        fn negotiate(&self) -> bool {
            // The src caps are set with the first output.
            true
        }

        fn start(&self) -> Result<(), gst::ErrorMessage> {
            *self.state.lock().unwrap_or_else(|e| e.into_inner()) = State::default();
            Ok(())
        }
    }
}

glib::wrapper! {
    /// The `benchfloor` element.
    pub struct Floor(ObjectSubclass<floor::Floor>)
        @extends gst_base::Aggregator, gst::Element, gst::Object;
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "benchfloor",
        gst::Rank::NONE,
        Floor::static_type(),
    )
}

gst::plugin_define!(
    benchfloor,
    "Benchmark floor: an aggregator that only passes buffers through",
    plugin_init,
    "0.0.0",
    "MPL-2.0",
    "gst-bench-floor",
    "gst-bench-floor",
    "gst-plugin-fragmp4 benchmark"
);
