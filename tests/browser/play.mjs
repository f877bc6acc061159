// Plays a file in headless Chromium through <video src> served with HTTP Range support
// on 127.0.0.1, seeks to the middle and checks that playback goes on from there.
// Usage: node play.mjs FILE.mp4   -> prints one JSON line, exit code 0 when it played.
import fs from "node:fs";
import { report, runPage } from "./chromium.mjs";

const file = process.argv[2];
const size = fs.statSync(file).size;
let rangeRequests = 0;

const page = `<!doctype html><video id=v muted preload=auto src="/media.mp4"></video>
<script>
const v = document.getElementById("v");
window.run = () => new Promise((resolve) => {
  const fail = (why) => resolve({ ok: false, why, error: v.error && v.error.message });
  v.onerror = () => fail("media error");
  v.onloadedmetadata = () => {
    const duration = v.duration;
    const middle = duration / 2;
    v.onseeked = async () => {
      try { await v.play(); } catch (e) { return fail("play: " + e); }
      const start = performance.now();
      const check = () => {
        if (v.currentTime >= middle + 1.0) {
          resolve({ ok: true, duration, middle, reached: v.currentTime,
                    frames: v.getVideoPlaybackQuality().totalVideoFrames, width: v.videoWidth });
        } else if (performance.now() - start > 15000) {
          fail("playback stuck at " + v.currentTime);
        } else {
          setTimeout(check, 100);
        }
      };
      check();
    };
    v.currentTime = middle;
  };
  if (v.readyState >= 1) v.onloadedmetadata();
  setTimeout(() => fail("timeout"), 30000);
});
</script>`;

const result = await runPage(page, (req, res) => {
  if (req.url !== "/media.mp4") {
    res.writeHead(404);
    return res.end();
  }
  const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range || "");
  if (range) {
    rangeRequests++;
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    res.writeHead(206, {
      "content-type": "video/mp4",
      "accept-ranges": "bytes",
      "content-range": `bytes ${start}-${end}/${size}`,
      "content-length": end - start + 1,
    });
    fs.createReadStream(file, { start, end }).pipe(res);
  } else {
    res.writeHead(200, { "content-type": "video/mp4", "accept-ranges": "bytes", "content-length": size });
    fs.createReadStream(file).pipe(res);
  }
});
result.rangeRequests = rangeRequests;
report(result);
