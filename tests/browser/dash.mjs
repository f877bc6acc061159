// Plays a DASH presentation with dash.js in headless Chromium and reports what the player
// saw. Prints one JSON line; exit 0 when it went well.
//   vod:  node dash.mjs vod DIR          (DIR/manifest.mpd served from 127.0.0.1) played at
//         2x to the end: ok when it ended without an error near the MPD's duration.
//   live: node dash.mjs live URL SECONDS (an MPD on the sink's own origin) played for
//         SECONDS: ok without an error, without a stall after start-up, and advancing.
//   Add "lowlatency" as the last argument for dash.js's low-latency mode (live; stalls
//   are then reported, not failed on), or
//   "clearkey=KID:KEY" (hex) to decrypt a Common Encryption presentation with ClearKey EME.
import fs from "node:fs";
import path from "node:path";
import { report, runPage } from "./chromium.mjs";

const [mode, where, seconds, lowLatency] = process.argv.slice(2);
const b64url = (hex) => Buffer.from(hex, "hex").toString("base64").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const clearkey = process.argv.slice(2).filter((a) => a.startsWith("clearkey=")).map((a) => a.slice(9).split(":"))
  .map(([kid, key]) => ({ [b64url(kid)]: b64url(key) }))[0] || null;
const dashJs = new URL("./node_modules/dashjs/dist/modern/umd/dash.all.min.js", import.meta.url);
const page = `<!doctype html><script src="/dash.all.min.js"></script><video id=v muted autoplay></video>
<script>
window.run = ([mode, url, seconds, lowLatency, clearkey]) => new Promise((resolve) => {
  const v = document.getElementById("v");
  const player = dashjs.MediaPlayer().create();
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  const errors = [];
  const stalls = [];
  const samples = [];
  const loaded = {};
  let started = null, startedAt = null, done = false;
  player.updateSettings({
    debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
    streaming: lowLatency ? { delay: { liveDelay: 1.0 }, liveCatchup: { enabled: true } } : {},
  });
  if (clearkey) player.setProtectionData({ "org.w3.clearkey": { clearkeys: clearkey } });
  player.on(dashjs.MediaPlayer.events.ERROR, (e) => {
    errors.push(JSON.stringify(e.error || e).slice(0, 300));
    finish("error");
  });
  player.on(dashjs.MediaPlayer.events.FRAGMENT_LOADING_COMPLETED, (e) => {
    const t = e.request && e.request.mediaType;
    if (t && e.request.type === "MediaSegment") loaded[t] = (loaded[t] || 0) + 1;
  });
  v.addEventListener("playing", () => { if (started === null) { started = now(); startedAt = v.currentTime; } });
  v.addEventListener("waiting", () => { if (started !== null && now() - started > 1) stalls.push([now(), v.currentTime]); });
  v.addEventListener("ended", () => finish(null));
  const sampler = setInterval(() => {
    if (started === null) return;
    const b = v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0;
    samples.push([Math.round(now() * 10) / 10, Math.round(v.currentTime * 1000) / 1000,
                  Math.round(b * 1000) / 1000,
                  mode === "live" ? Math.round(player.getCurrentLiveLatency() * 1000) / 1000 : null]);
  }, 500);
  function finish(why) {
    if (done) return;
    done = true;
    clearInterval(sampler);
    const q = v.getVideoPlaybackQuality();
    const last = samples.slice(-Math.max(1, Math.floor(samples.length / 3)));
    const latencies = last.map((s) => s[3]).filter((l) => l !== null && Number.isFinite(l)).sort((a, b) => a - b);
    const result = {
      mode, why, errors, stalls, started, loaded,
      duration: player.duration(), reached: v.currentTime, advanced: started === null ? 0 : v.currentTime - startedAt,
      frames: q.totalVideoFrames, dropped: q.droppedVideoFrames,
      latency: latencies.length ? latencies[Math.floor(latencies.length / 2)] : null,
      samples: samples.slice(-12),
    };
    if (mode === "vod") {
      result.ok = why === null && errors.length === 0 && Math.abs(v.currentTime - player.duration()) < 0.2;
    } else {
      // Low latency: stalls are reported, not failed on (a loaded machine makes them
      // at segment joins; see the caller).
      result.ok = why === "time" && errors.length === 0 && (lowLatency || stalls.length === 0) &&
        started !== null && result.advanced > 0.6 * (Number(seconds) - started);
    }
    player.reset();
    resolve(result);
  }
  player.initialize(v, url, true);
  if (mode === "vod") {
    player.on(dashjs.MediaPlayer.events.CAN_PLAY, () => { v.playbackRate = 2; });
    setTimeout(() => finish("timeout"), 60000);
  } else {
    setTimeout(() => finish("time"), Number(seconds) * 1000);
  }
});
</script>`;

const types = { ".mpd": "application/dash+xml", ".mp4": "video/mp4", ".m4s": "video/iso.segment" };
const url = mode === "vod" ? "/manifest.mpd" : where;
const result = await runPage(page, (req, res) => {
  if (req.url === "/dash.all.min.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    return fs.createReadStream(dashJs).pipe(res);
  }
  const file = mode === "vod" ? path.join(where, path.basename(req.url.split("?")[0])) : null;
  if (!file || !fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  const type = types[path.extname(file)] || "application/octet-stream";
  // Single-file presentations (SegmentBase): one byte range per request.
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range || "");
  if (range) {
    const [start, end] = [Number(range[1]), Number(range[2])];
    const size = fs.statSync(file).size;
    const last = Math.min(end, size - 1);
    res.writeHead(206, { "content-type": type, "content-range": `bytes ${start}-${last}/${size}`,
                         "content-length": last - start + 1 });
    return fs.createReadStream(file, { start, end: last }).pipe(res);
  }
  res.writeHead(200, { "content-type": type });
  fs.createReadStream(file).pipe(res);
}, [mode, url, seconds || "0", lowLatency === "lowlatency", clearkey]);
report(result);
