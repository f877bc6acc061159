//! SCTE-35 on the sink's `meta_%u` pads: besides the `emsg` the muxer writes, each splice
//! info section becomes an `EXT-X-DATERANGE` of the media playlist (VOD: at EOS), and with
//! `cue-tags` the breaks `EXT-X-CUE-OUT`/`EXT-X-CUE-IN` around their segments.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::{CAT, FragMp4HlsSink, lock};
use crate::events::scte35::{SPLICE_INSERT, SpliceInfo, parse_section};
use crate::hls::{cues, daterange};

/// A splice seen on its way into the muxer: running time (ns), the section.
#[derive(Default)]
pub(super) struct Splices {
    pub(super) seen: Vec<(i64, SpliceInfo, Vec<u8>)>,
}

impl FragMp4HlsSink {
    /// Watches a meta pad for SCTE-35 sections (the muxer checks and drops bad ones too).
    pub(super) fn watch_splices(&self, pad: &gst::GhostPad) {
        let obj = self.obj().downgrade();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let scte = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name() == "application/x-scte35"))
                .unwrap_or(false);
            let (Some(obj), Some(buf), true) = (obj.upgrade(), info.buffer(), scte) else {
                return gst::PadProbeReturn::Ok;
            };
            let seg = pad
                .sticky_event::<gst::event::Segment>(0)
                .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
            let t = seg.and_then(|s| {
                s.to_running_time_full(buf.pts()?).map(|v| match v {
                    gst::Signed::Positive(t) => t.nseconds() as i64,
                    gst::Signed::Negative(t) => -(t.nseconds() as i64),
                })
            });
            let Ok(map) = buf.map_readable() else {
                return gst::PadProbeReturn::Ok;
            };
            if let (Some(t), Ok(info)) = (t, parse_section(&map)) {
                let len = 3 + ((usize::from(map[1] & 0x0f) << 8) | usize::from(map[2]));
                lock(&obj.imp().splices)
                    .seen
                    .push((t, info, map[..len].to_vec()));
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// At EOS: the splices as date ranges of the media playlist, at the UTC its
    /// `EXT-X-PROGRAM-DATE-TIME`s give their times.
    pub(super) fn write_date_ranges(&self) -> std::io::Result<()> {
        let seen = std::mem::take(&mut lock(&self.splices).seen);
        if seen.is_empty() {
            return Ok(());
        }
        let shift = self.timeline_shift();
        let cue_tags = lock(&self.settings).cue_tags;
        let mut guard = lock(&self.writer);
        let Some(w) = guard.as_mut() else {
            return Ok(());
        };
        if cue_tags {
            let splices: Vec<cues::Splice> = seen
                .iter()
                .filter(|(_, info, _)| info.command_type == SPLICE_INSERT)
                .map(|(t, info, _)| cues::Splice {
                    at: (t + shift).max(0) as u64,
                    out: info.out_of_network,
                    duration: info.duration_ns(),
                })
                .collect();
            let tags: Vec<(usize, String)> = cues::place(w.spans(), &splices)
                .into_iter()
                .map(|(i, tag)| (i, tag.line()))
                .collect();
            gst::info!(CAT, imp = self, "cue tags: {:?}", tags);
            w.set_cue_tags(tags)?;
        }
        let mut ranges = Vec::new();
        for (i, (t, info, section)) in seen.iter().enumerate() {
            let at = (t + shift).max(0) as u64;
            let Some(utc) = w.utc_ms(at) else {
                gst::warning!(
                    CAT,
                    imp = self,
                    "no program date time: splice {} not listed",
                    i
                );
                continue;
            };
            ranges.push(daterange::scte35(info, section, utc, i));
        }
        gst::info!(CAT, imp = self, "{} SCTE-35 date ranges", ranges.len());
        w.set_date_ranges(ranges)
    }
}
