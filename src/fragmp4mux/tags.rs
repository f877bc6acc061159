//! Tags on the sink pads: `language-code` becomes the track's language (`mdhd`, `elng`).
//! An init segment takes the language known when it is written; a later change is logged
//! and waits for the next init.

use super::imp::{CAT, FragMp4Mux};
use crate::language;

impl FragMp4Mux {
    pub(super) fn handle_tags(&self, pad: &gst_base::AggregatorPad, tags: &gst::TagListRef) {
        let Some(code) = tags.get::<gst::tags::LanguageCode>() else {
            return;
        };
        let code = code.get();
        let lang = match language::from_tag(code) {
            Ok(l) => l,
            Err(e) => {
                gst::warning!(CAT, obj = pad, "ignoring the language tag: {}", e);
                return;
            }
        };
        self.with_state(|state| {
            let track = state.track_of(pad)?;
            let entry = &mut state.pads[track];
            if entry.language.as_ref() != Some(&lang) {
                gst::info!(
                    CAT,
                    obj = pad,
                    "language {:?}: mdhd {}, elng {}{}",
                    code,
                    String::from_utf8_lossy(&lang.iso639_2t),
                    lang.bcp47,
                    if entry.written.is_some() {
                        " (from the next init segment on)"
                    } else {
                        ""
                    }
                );
                entry.language = Some(lang);
            }
            Some(())
        });
    }
}
