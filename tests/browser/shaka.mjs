// Plays a VOD DASH presentation (DIR/manifest.mpd, served from 127.0.0.1) with Shaka
// Player in headless Chromium at 2x to the end. Prints one JSON line; exit 0 when it
// ended without an error near the MPD's duration. The line's `text` lists the video's
// text tracks (subtitles Shaka displays) with their cues' start, end and text.
// Usage: node shaka.mjs DIR
import fs from "node:fs";
import path from "node:path";
import { report, runPage } from "./chromium.mjs";

const [dir] = process.argv.slice(2);
const shakaJs = new URL("./node_modules/shaka-player/dist/shaka-player.compiled.js", import.meta.url);
const page = `<!doctype html><script src="/shaka.js"></script><video id=v muted></video>
<script>
window.run = () => new Promise(async (resolve) => {
  const v = document.getElementById("v");
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) return resolve({ ok: false, why: "unsupported" });
  const player = new shaka.Player();
  const errors = [];
  let done = false;
  const finish = (why) => {
    if (done) return;
    done = true;
    const q = v.getVideoPlaybackQuality();
    const tracks = player.getVariantTracks().map((t) => [t.videoCodec, t.audioCodec, t.width, t.height, t.bandwidth]);
    const text = Array.from(v.textTracks).map((t) => ({ kind: t.kind, language: t.language,
      cues: Array.from(t.cues || [], (c) => ({ start: c.startTime, end: c.endTime, text: c.text })) }));
    const textTracks = player.getTextTracks().map((t) => ({ language: t.language, mime: t.mimeType, codecs: t.codecs }));
    resolve({ ok: why === null && errors.length === 0 && Math.abs(v.currentTime - v.duration) < 0.2,
              why, errors, duration: v.duration, reached: v.currentTime, tracks,
              frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, stats: player.getStats().stallsDetected,
              text, textTracks });
  };
  player.addEventListener("error", (e) => { errors.push(String(e.detail && e.detail.code)); finish("error"); });
  v.addEventListener("ended", () => finish(null));
  setTimeout(() => finish("timeout at " + v.currentTime), 60000);
  try {
    await player.attach(v);
    // Subtitles are fetched and shown (in a TextTrack of the video) only when visible.
    player.configure({ streaming: { alwaysStreamText: true } });
    await player.load("/manifest.mpd");
    const sub = player.getTextTracks()[0];
    if (sub) player.selectTextTrack(sub);
    v.playbackRate = 2;
    await v.play();
  } catch (e) {
    errors.push(String(e.code || e));
    finish("load");
  }
});
</script>`;

const types = { ".mpd": "application/dash+xml", ".mp4": "video/mp4", ".m4s": "video/iso.segment" };
const result = await runPage(page, (req, res) => {
  if (req.url === "/shaka.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    return fs.createReadStream(shakaJs).pipe(res);
  }
  const file = path.join(dir, path.basename(req.url.split("?")[0]));
  if (!fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { "content-type": types[path.extname(file)] || "application/octet-stream" });
  fs.createReadStream(file).pipe(res);
});
report(result);
