// Appends a fragmented MP4 to a Media Source Extensions SourceBuffer in headless
// Chromium, box by box as a player would receive it: the init segment (ftyp+moov), then
// every moof+mdat chunk. Checks that nothing errors, that the buffered range covers the
// whole file without gaps, and that playback advances with frames rendered.
// Usage: node mse.mjs FILE.mp4 'video/mp4; codecs="avc1.64001f,mp4a.40.2"'
import fs from "node:fs";
import { SPLIT_FRAGMENTS, report, runPage } from "./chromium.mjs";

const [file, mime] = process.argv.slice(2);
const page = `<!doctype html><video id=v muted></video>
<script>
${SPLIT_FRAGMENTS}
window.run = async (mime) => {
  const v = document.getElementById("v");
  if (!MediaSource.isTypeSupported(mime)) return { ok: false, why: "unsupported " + mime };
  const data = new Uint8Array(await (await fetch("/media.mp4")).arrayBuffer());
  const { init, parts } = splitFragments(data);
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
  const sb = ms.addSourceBuffer(mime);
  let error = null;
  sb.addEventListener("error", () => { error = "SourceBuffer error"; });
  const append = (chunk) => new Promise((resolve) => {
    sb.addEventListener("updateend", resolve, { once: true });
    sb.appendBuffer(chunk);
  });
  await append(init);
  for (const p of parts) {
    await append(p);
    if (error || v.error) break;
  }
  if (error || v.error) return { ok: false, why: error || v.error.message };
  ms.endOfStream();
  const ranges = [];
  for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
  await v.play();
  const start = performance.now();
  while (v.currentTime < 2 && performance.now() - start < 15000) await new Promise((r) => setTimeout(r, 100));
  return {
    ok: ranges.length === 1 && v.currentTime >= 2 && !v.error,
    chunks: parts.length, ranges, duration: ms.duration, reached: v.currentTime,
    frames: v.getVideoPlaybackQuality().totalVideoFrames,
  };
};
</script>`;

const result = await runPage(page, (req, res) => {
  if (req.url === "/media.mp4") {
    res.writeHead(200, { "content-type": "video/mp4" });
    return fs.createReadStream(file).pipe(res);
  }
  res.writeHead(404);
  res.end();
}, mime);
report(result);
