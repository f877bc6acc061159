// Plays a DASH presentation with Shaka Player in headless Chromium and reports what the
// player saw. Prints one JSON line; exit 0 when it went well.
//   vod:  node shaka.mjs vod DIR          (DIR/manifest.mpd served from 127.0.0.1) played
//         at 2x to the end: ok when it ended without an error near the MPD's duration.
//         The line's `text` lists the video's text tracks (subtitles Shaka displays)
//         with their cues' start, end and text.
//   live: node shaka.mjs live URL SECONDS (an MPD on the sink's own origin) played for
//         SECONDS: ok when Shaka took it as live, without an error, without a stall
//         after start-up (a `waiting` event or Shaka's own stall detector), advancing.
import fs from "node:fs";
import path from "node:path";
import { report, runPage } from "./chromium.mjs";

const [mode, where, seconds] = process.argv.slice(2);
const dir = mode === "vod" ? where : null;
const shakaJs = new URL("./node_modules/shaka-player/dist/shaka-player.compiled.js", import.meta.url);
const page = `<!doctype html><script src="/shaka.js"></script><video id=v muted></video>
<script>
window.run = ([mode, url, seconds]) => new Promise(async (resolve) => {
  const v = document.getElementById("v");
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const stalls = [];
  const latencies = [];
  let started = null, startedAt = null;
  v.addEventListener("playing", () => { if (started === null) { started = now(); startedAt = v.currentTime; } });
  v.addEventListener("waiting", () => { if (started !== null && now() - started > 1) stalls.push([now(), v.currentTime]); });
  shaka.polyfill.installAll();
  if (!shaka.Player.isBrowserSupported()) return resolve({ ok: false, why: "unsupported" });
  const player = new shaka.Player();
  const errors = [];
  let done = false;
  const finish = (why) => {
    if (done) return;
    done = true;
    clearInterval(sampler);
    const q = v.getVideoPlaybackQuality();
    const tracks = player.getVariantTracks().map((t) => [t.videoCodec, t.audioCodec, t.width, t.height, t.bandwidth]);
    const text = Array.from(v.textTracks).map((t) => ({ kind: t.kind, language: t.language,
      cues: Array.from(t.cues || [], (c) => ({ start: c.startTime, end: c.endTime, text: c.text })) }));
    const textTracks = player.getTextTracks().map((t) => ({ language: t.language, mime: t.mimeType, codecs: t.codecs }));
    const detected = player.getStats().stallsDetected;
    const advanced = started === null ? 0 : v.currentTime - startedAt;
    const last = latencies.slice(-Math.max(1, Math.floor(latencies.length / 3))).sort((a, b) => a - b);
    const ok = mode === "vod"
      ? why === null && errors.length === 0 && Math.abs(v.currentTime - v.duration) < 0.2
      : why === "time" && errors.length === 0 && player.isLive() && stalls.length === 0 && !detected &&
        started !== null && advanced > 0.6 * (Number(seconds) - started);
    resolve({ ok, mode, why, errors, duration: v.duration, reached: v.currentTime, tracks, started, advanced,
              live: player.isLive(), stalls, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames,
              stats: detected, latency: last.length ? last[Math.floor(last.length / 2)] : null,
              text, textTracks });
    player.destroy();
  };
  const sampler = setInterval(() => {
    const l = player.getStats().liveLatency;
    if (started !== null && Number.isFinite(l)) latencies.push(Math.round(l * 1000) / 1000);
  }, 500);
  player.addEventListener("error", (e) => { errors.push(String(e.detail && e.detail.code)); finish("error"); });
  v.addEventListener("ended", () => finish(null));
  if (mode === "vod") setTimeout(() => finish("timeout at " + v.currentTime), 60000);
  else setTimeout(() => finish("time"), Number(seconds) * 1000);
  try {
    await player.attach(v);
    // Subtitles are fetched and shown (in a TextTrack of the video) only when visible.
    player.configure({ streaming: { alwaysStreamText: true } });
    await player.load(url);
    const sub = player.getTextTracks()[0];
    if (sub) player.selectTextTrack(sub);
    if (mode === "vod") v.playbackRate = 2;
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
  const file = dir === null ? null : path.join(dir, path.basename(req.url.split("?")[0]));
  if (!file || !fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { "content-type": types[path.extname(file)] || "application/octet-stream" });
  fs.createReadStream(file).pipe(res);
}, [mode, mode === "vod" ? "/manifest.mpd" : where, seconds || "0"]);
report(result);
