// Plays an HLS presentation (a directory with playlist.m3u8) with hls.js in headless
// Chromium, from 127.0.0.1 (single Range requests answered), at 4x speed to the end. Prints one JSON line; exit 0 when it
// reached the end without an error; `metadata` lists hls.js' FRAG_PARSING_METADATA samples,
// `subtitles` the cues of its subtitle text tracks.
// Usage: node hls.mjs DIR PLAYLIST
import fs from "node:fs";
import { report, runPage } from "./chromium.mjs";
import path from "node:path";

const [dir, playlist] = process.argv.slice(2);
const hlsJs = new URL("./node_modules/hls.js/dist/hls.min.js", import.meta.url);
const page = `<!doctype html><script src="/hls.min.js"></script><video id=v muted></video>
<script>
window.run = (_) => new Promise((resolve) => {
  const v = document.getElementById("v");
  if (!Hls.isSupported()) return resolve({ ok: false, why: "hls.js unsupported" });
  const hls = new Hls();
  const errors = [];
  // Timed metadata (ID3 in emsg): each sample with its time and payload as hex.
  const metadata = [];
  hls.on(Hls.Events.FRAG_PARSING_METADATA, (_, d) => {
    for (const m of d.samples)
      metadata.push({ pts: m.pts, duration: m.duration, type: m.type,
                      data: Array.from(m.data, (b) => b.toString(16).padStart(2, "0")).join("") });
  });
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) resolve({ ok: false, why: d.type + " " + d.details }); else errors.push(d.details); });
  hls.loadSource("/${playlist}");
  hls.attachMedia(v);
  hls.on(Hls.Events.MANIFEST_PARSED, () => { v.playbackRate = 4; v.play(); });
  // The cues of the subtitle text tracks hls.js made (a subtitle rendition).
  const subtitles = () => Array.from(v.textTracks).filter((t) => t.kind === "subtitles")
    .map((t) => ({ label: t.label, language: t.language,
                   cues: Array.from(t.cues || [], (c) => ({ start: c.startTime, end: c.endTime, text: c.text })) }));
  v.addEventListener("ended", () => {
    const ranges = [];
    for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
    resolve({ ok: true, duration: v.duration, reached: v.currentTime, ranges, errors,
              frames: v.getVideoPlaybackQuality().totalVideoFrames, metadata, subtitles: subtitles() });
  });
  setTimeout(() => resolve({ ok: false, why: "timeout at " + v.currentTime, errors }), 60000);
});
</script>`;

const types = { ".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4", ".m4s": "video/iso.segment" };
const result = await runPage(page, (req, res) => {
  if (req.url === "/hls.min.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    return fs.createReadStream(hlsJs).pipe(res);
  }
  const file = path.join(dir, path.basename(req.url));
  if (!fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  const type = types[path.extname(file)] || "application/octet-stream";
  // Byte-range presentations (EXT-X-BYTERANGE): one range per request.
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range || "");
  if (range) {
    const [start, end] = [Number(range[1]), Number(range[2])];
    const size = fs.statSync(file).size;
    res.writeHead(206, { "content-type": type, "content-range": `bytes ${start}-${end}/${size}`,
                         "content-length": end - start + 1 });
    return fs.createReadStream(file, { start, end }).pipe(res);
  }
  res.writeHead(200, { "content-type": type });
  fs.createReadStream(file).pipe(res);
});
report(result);
