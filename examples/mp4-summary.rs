//! Prints the structure of a fragmented MP4 file, as the independent `mp4-atom` parser
//! reads it: brands, tracks, and per fragment the samples and timing of each track.
//!
//! Usage: `cargo run --example mp4-summary -- FILE.mp4`

#[path = "../tests/support/mp4.rs"]
mod mp4;
#[path = "../tests/support/progressive.rs"]
#[allow(dead_code)]
mod progressive;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: mp4-summary FILE.mp4");
        std::process::exit(2);
    };
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    if !has_box(&data, b"moof") {
        return summarize_progressive(&path, &data);
    }
    let file = mp4::parse(&data);
    let brands: Vec<String> = file
        .ftyp
        .compatible_brands
        .iter()
        .map(|b| b.to_string())
        .collect();
    println!(
        "{path}: {} bytes, major brand {}, compatible {}",
        data.len(),
        file.ftyp.major_brand,
        brands.join(",")
    );
    println!("top level: {}", summarize(&file.top_level));
    for trak in &file.moov.trak {
        let id = trak.tkhd.track_id;
        let samples = file.samples.get(&id).map_or(0, Vec::len);
        let syncs = file
            .samples
            .get(&id)
            .map_or(0, |s| s.iter().filter(|s| s.is_sync()).count());
        println!(
            "track {id}: {} {:?} timescale {}, {samples} samples ({syncs} sync)",
            file.handler(id),
            codec_name(file.codec(id)),
            file.timescale(id),
        );
    }
    for c in &file.chunks {
        let parts: Vec<String> = c
            .trafs
            .iter()
            .map(|t| {
                let ts = f64::from(file.timescale(t.track_id));
                format!(
                    "track {} {} samples tfdt {:.3}s dur {:.3}s",
                    t.track_id,
                    t.samples,
                    t.tfdt.unwrap_or(0) as f64 / ts,
                    t.duration as f64 / ts
                )
            })
            .collect();
        println!(
            "fragment {:>3}: mdat {:>8} B | {}",
            c.sequence,
            c.mdat_payload,
            parts.join(" | ")
        );
    }
}

/// True when `kind` is a top-level box of `data`.
fn has_box(data: &[u8], kind: &[u8; 4]) -> bool {
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        if &data[pos + 4..pos + 8] == kind {
            return true;
        }
        let size = match u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap_or([0; 4])) {
            1 if pos + 16 <= data.len() => {
                u64::from_be_bytes(data[pos + 8..pos + 16].try_into().unwrap_or([0; 8])) as usize
            }
            0 | 1 => return false,
            s => s as usize,
        };
        pos += size;
    }
    false
}

fn summarize_progressive(path: &str, data: &[u8]) {
    let file = progressive::parse(data);
    println!("{path}: {} bytes, progressive", data.len());
    println!("top level: {}", file.top_level.join(" "));
    for trak in &file.moov.trak {
        let id = trak.tkhd.track_id;
        let samples = &file.samples[&id];
        let ts = f64::from(file.timescale(id));
        let chunks = samples.last().map_or(0, |s| s.chunk + 1);
        let codec = codec_name(&trak.mdia.minf.stbl.stsd.codecs[0]);
        println!(
            "track {id}: {codec} timescale {}, {} samples ({} sync) in {chunks} runs, {:.3} s, edit list {:?}",
            file.timescale(id),
            samples.len(),
            samples.iter().filter(|s| s.is_sync()).count(),
            samples.iter().map(|s| u64::from(s.duration)).sum::<u64>() as f64 / ts,
            trak.edts.as_ref().and_then(|e| e.elst.as_ref()).map(|e| e
                .entries
                .iter()
                .map(|x| (x.segment_duration, x.media_time))
                .collect::<Vec<_>>()),
        );
    }
}

fn codec_name(c: &mp4_atom::Codec) -> String {
    format!("{c:?}")
        .chars()
        .take_while(|ch| ch.is_alphanumeric())
        .collect()
}

fn summarize(kinds: &[String]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < kinds.len() {
        let mut n = 1;
        while i + 2 * n <= kinds.len()
            && kinds[i] == "moof"
            && kinds[i..i + 2] == kinds[i + 2 * (n - 1)..i + 2 * n]
        {
            n += 1;
        }
        if kinds[i] == "moof" && n > 2 {
            out.push(format!("(moof mdat) x{}", n - 1));
            i += 2 * (n - 1);
        } else {
            out.push(kinds[i].clone());
            i += 1;
        }
    }
    out.join(" ")
}
