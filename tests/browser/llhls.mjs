// Plays a live Low-Latency HLS stream with hls.js (lowLatencyMode) in headless Chromium
// for SECONDS and reports what the player saw: fatal errors, buffer stalls after
// start-up, and hls.js's `latency` sampled every 250 ms. Prints one JSON line; exit 0
// when there was no fatal error, no stall after start-up, and the median latency over the
// last 10 s is at most MAX_LATENCY seconds.
// Usage: node llhls.mjs URL SECONDS MAX_LATENCY
import fs from "node:fs";
import { report, runPage } from "./chromium.mjs";

const [url, seconds, maxLatency] = process.argv.slice(2);
const hlsJs = new URL("./node_modules/hls.js/dist/hls.min.js", import.meta.url);
const page = `<!doctype html><script src="/hls.min.js"></script><video id=v muted autoplay></video>
<script>
window.run = ([url, seconds, maxLatency]) => new Promise((resolve) => {
  const v = document.getElementById("v");
  if (!Hls.isSupported()) return resolve({ ok: false, why: "hls.js unsupported" });
  const hls = new Hls({ lowLatencyMode: true });
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  let started = null;
  const stalls = [];
  const errors = [];
  const samples = [];
  const parts = new Set();
  hls.on(Hls.Events.ERROR, (_, d) => {
    if (d.fatal) return finish("fatal " + d.type + " " + d.details);
    errors.push([d.details, d.response && d.response.code, d.frag && d.frag.relurl, d.part && d.part.relurl, d.url].join(" "));
    if (d.details === "bufferStalledError" && started !== null) stalls.push(now());
  });
  hls.on(Hls.Events.FRAG_LOADED, (_, d) => { if (d.part) parts.add(d.part.relurl); });
  // Start-up ends once playing at the live sync position (edge - PART-HOLD-BACK): a
  // start has to begin on an independent part and waits for its loads meanwhile, so
  // the player jumps once to where it should be, as live players do at start.
  let synced = false;
  v.addEventListener("playing", () => {
    if (started !== null) return;
    const sync = hls.liveSyncPosition;
    if (!synced && sync && v.currentTime < sync - 0.1) {
      synced = true;
      v.currentTime = sync;
      return;
    }
    started = now();
  });
  v.addEventListener("waiting", () => { if (started !== null) stalls.push(now()); });
  hls.loadSource(url);
  hls.attachMedia(v);
  hls.on(Hls.Events.MANIFEST_PARSED, () => v.play());
  const sampler = setInterval(() => {
    if (started !== null && Number.isFinite(hls.latency)) {
      const b = v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0;
      const wall = hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : null;
      samples.push([now(), hls.latency, b, wall]);
    }
  }, 250);
  let done = false;
  function finish(why) {
    if (done) return;
    done = true;
    clearInterval(sampler);
    const last = samples.filter(([t]) => t >= seconds - 10).map(([, l]) => l).sort((a, b) => a - b);
    const median = last.length ? last[Math.floor(last.length / 2)] : null;
    const frames = v.getVideoPlaybackQuality();
    const ok = !why && started !== null && stalls.length === 0 && median !== null && median <= maxLatency;
    resolve({ ok, why: why || (ok ? undefined : "stalls, no start or latency above " + maxLatency),
              started, stalls, median, samples: last.length, parts_loaded: parts.size,
              current: v.currentTime, frames: frames.totalVideoFrames, dropped: frames.droppedVideoFrames,
              errors: errors.slice(0, 20), targetLatency: hls.targetLatency,
              series: samples.filter((_, i) => i % 4 === 0).map(([t, l, b, w]) => [t, l, b, w].map((x) => Math.round(x * 1000) / 1000)),
              rate: v.playbackRate, drift: hls.drift });
  }
  setTimeout(() => finish(null), seconds * 1000);
});
</script>`;

const result = await runPage(page, (req, res) => {
  if (req.url === "/hls.min.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    return fs.createReadStream(hlsJs).pipe(res);
  }
  res.writeHead(404);
  res.end();
}, [url, Number(seconds), Number(maxLatency)]);
report(result);
