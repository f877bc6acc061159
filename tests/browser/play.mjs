// Plays a file in headless Chromium through <video src> served with HTTP Range support
// on 127.0.0.1, seeks to the middle and checks that playback goes on from there.
// Usage: node play.mjs FILE.mp4   -> prints one JSON line, exit code 0 when it played.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";

const file = process.argv[2];
const size = fs.statSync(file).size;
let rangeRequests = 0;

const page = `<!doctype html><video id=v muted preload=auto src="/media.mp4"></video>
<script>
const v = document.getElementById("v");
window.result = new Promise((resolve) => {
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
  setTimeout(() => fail("timeout"), 30000);
});
</script>`;

const server = http.createServer((req, res) => {
  if (req.url === "/") {
    res.writeHead(200, { "content-type": "text/html" });
    return res.end(page);
  }
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

await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;
const userDataDir = fs.mkdtempSync("/tmp/fragmp4-chromium-");
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
let result;
try {
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${port}/`);
  result = await tab.evaluate(() => window.result);
} catch (e) {
  result = { ok: false, why: String(e) };
} finally {
  await browser.close();
  server.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
result.rangeRequests = rangeRequests;
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
