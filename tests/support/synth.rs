//! Hand-made caps and buffers for exact cases, pushed through appsrc.

/// A baseline-profile avcC with one SPS and one PPS (the muxer does not decode them).
pub const AVCC: [u8; 17] = [
    1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 2, 0x68, 0xce,
];
/// AudioSpecificConfig: AAC-LC, 48 kHz, stereo.
pub const ASC_48K_STEREO: [u8; 2] = [0x11, 0x90];

pub fn h264_caps(fps: (i32, i32), codec_data: Option<&[u8]>) -> gst::Caps {
    let mut b = gst::Caps::builder("video/x-h264")
        .field("stream-format", "avc")
        .field("alignment", "au")
        .field("width", 320i32)
        .field("height", 240i32)
        .field("framerate", gst::Fraction::new(fps.0, fps.1));
    if let Some(cd) = codec_data {
        b = b.field("codec_data", gst::Buffer::from_slice(cd.to_vec()));
    }
    b.build()
}

pub fn aac_caps() -> gst::Caps {
    gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("rate", 48000i32)
        .field("channels", 2i32)
        .field(
            "codec_data",
            gst::Buffer::from_slice(ASC_48K_STEREO.to_vec()),
        )
        .build()
}

/// A buffer whose bytes identify it: see [`tag`].
pub fn buffer(
    tag: u32,
    size: usize,
    pts: Option<u64>,
    dts: Option<u64>,
    keyframe: bool,
) -> gst::Buffer {
    super::init();
    // One length-prefixed NAL unit (4-byte prefix) starting with the tag, so the
    // buffer is also a valid `avc` access unit.
    let size = size.max(8);
    let mut data = vec![(tag % 251) as u8; size];
    data[..4].copy_from_slice(&(size as u32 - 4).to_be_bytes());
    data[4..8].copy_from_slice(&tag.to_be_bytes());
    let mut buf = gst::Buffer::from_mut_slice(data);
    {
        let b = buf.get_mut().unwrap();
        b.set_pts(pts.map(gst::ClockTime::from_nseconds));
        b.set_dts(dts.map(gst::ClockTime::from_nseconds));
        if !keyframe {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buf
}

/// Video frames `range` at `num/den` fps (exact ns, rounded down), keyframe every `gop`.
pub fn video_frames(range: std::ops::Range<u64>, fps: (u64, u64), gop: u64) -> Vec<gst::Buffer> {
    range
        .map(|i| {
            let t = i * fps.1 * 1_000_000_000 / fps.0;
            buffer(
                i as u32,
                100 + (i as usize * 7) % 300,
                Some(t),
                Some(t),
                i % gop == 0,
            )
        })
        .collect()
}

/// AAC frames `range` (1024 samples at 48 kHz) starting at `offset` ns.
pub fn audio_frames(range: std::ops::Range<u64>, offset: u64) -> Vec<gst::Buffer> {
    range
        .map(|i| {
            let t = offset + i * 1024 * 1_000_000_000 / 48000;
            buffer(
                1_000_000 + i as u32,
                20 + (i as usize * 3) % 50,
                Some(t),
                None,
                true,
            )
        })
        .collect()
}

/// The appsrc named `name` in `pipeline`.
pub fn appsrc(pipeline: &gst::Pipeline, name: &str) -> gst_app::AppSrc {
    use gst::prelude::*;
    pipeline
        .by_name(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .downcast::<gst_app::AppSrc>()
        .unwrap()
}

pub fn push(src: &gst_app::AppSrc, buffers: Vec<gst::Buffer>) {
    for b in buffers {
        src.push_buffer(b).expect("appsrc accepts the buffer");
    }
}

/// A main-profile avcC for 640x480 caps, different from [`AVCC`].
pub const AVCC_MAIN: [u8; 18] = [
    1, 0x4d, 0x40, 0x28, 0xff, 0xe1, 0, 5, 0x67, 0x4d, 0x40, 0x28, 0x01, 1, 0, 2, 0x68, 0xee,
];
/// AudioSpecificConfig: AAC-LC, 44.1 kHz, mono.
pub const ASC_44K_MONO: [u8; 2] = [0x12, 0x08];

pub fn aac_caps_with(rate: i32, channels: i32, asc: &[u8]) -> gst::Caps {
    gst::Caps::builder("audio/mpeg")
        .field("mpegversion", 4i32)
        .field("stream-format", "raw")
        .field("rate", rate)
        .field("channels", channels)
        .field("codec_data", gst::Buffer::from_slice(asc.to_vec()))
        .build()
}

/// The tag of a buffer made by [`buffer`].
pub fn tag(data: &[u8]) -> u32 {
    u32::from_be_bytes(data[4..8].try_into().unwrap())
}

/// Resident memory of this process in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A long synthetic A/V stream for memory tests.
pub struct LongStream {
    pub seconds: u64,
    pub fps: u64,
    pub keyframe_every: u64,
    pub video_size: usize,
    pub audio_size: usize,
}

impl LongStream {
    /// Pushes the stream into `v` and `a` in time order (48 kHz AAC frames), draining
    /// `bus` as an application would; `at_video_time` is called with each video time.
    /// Returns the buffers pushed (video, audio).
    pub fn feed(
        &self,
        v: &gst_app::AppSrc,
        a: &gst_app::AppSrc,
        bus: &gst::Bus,
        mut at_video_time: impl FnMut(u64),
    ) -> (u64, u64) {
        const SEC: u64 = 1_000_000_000;
        let end = self.seconds * SEC;
        let (mut vi, mut ai) = (0u64, 0u64);
        loop {
            let vt = vi * SEC / self.fps;
            let at = ai * 1024 * SEC / 48000;
            if vt >= end && at >= end {
                return (vi, ai);
            }
            if vt <= at {
                v.push_buffer(buffer(
                    vi as u32,
                    self.video_size,
                    Some(vt),
                    Some(vt),
                    vi % self.keyframe_every == 0,
                ))
                .expect("video pushed");
                vi += 1;
                at_video_time(vt);
            } else {
                a.push_buffer(buffer(ai as u32, self.audio_size, Some(at), None, true))
                    .expect("audio pushed");
                ai += 1;
            }
            if (vi + ai) % 1000 == 0 {
                while let Some(msg) = bus.pop() {
                    assert!(!matches!(msg.view(), gst::MessageView::Error(_)), "{msg:?}");
                }
            }
        }
    }
}
