// Plays an encrypted (cenc) fragmented MP4 in headless Chromium through Media Source
// Extensions + Encrypted Media Extensions with the ClearKey key system: the page asks
// for a licence and answers it itself with the key. Reports what the player saw.
// Usage: node eme.mjs FILE.mp4 'video/mp4; codecs="avc1.64001f,mp4a.40.2"' KID_HEX KEY_HEX
import fs from "node:fs";
import { SPLIT_FRAGMENTS, report, runPage } from "./chromium.mjs";

const [file, mime, kid, key] = process.argv.slice(2);
const page = `<!doctype html><video id=v muted></video>
<script>
${SPLIT_FRAGMENTS}
const b64url = (hex) => btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
window.run = async ([mime, kid, key]) => {
  const v = document.getElementById("v");
  let error = null, licences = 0, encryptedEvents = 0;
  v.addEventListener("encrypted", () => { encryptedEvents++; });
  const [video, audio] = mime.match(/codecs="([^"]+)"/)[1].split(",");
  const access = await navigator.requestMediaKeySystemAccess("org.w3.clearkey", [{
    initDataTypes: ["keyids", "cenc"],
    videoCapabilities: [{ contentType: 'video/mp4; codecs="' + video + '"' }],
    audioCapabilities: audio ? [{ contentType: 'audio/mp4; codecs="' + audio + '"' }] : [],
  }]);
  const keys = await access.createMediaKeys();
  await v.setMediaKeys(keys);
  const session = keys.createSession();
  session.addEventListener("message", async () => {
    licences++;
    const licence = { keys: [{ kty: "oct", kid: b64url(kid), k: b64url(key) }], type: "temporary" };
    await session.update(new TextEncoder().encode(JSON.stringify(licence)));
  });
  await session.generateRequest("keyids",
    new TextEncoder().encode(JSON.stringify({ kids: [b64url(kid)] })));
  const data = new Uint8Array(await (await fetch("/media.mp4")).arrayBuffer());
  const { init, parts } = splitFragments(data);
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise((r) => ms.addEventListener("sourceopen", r, { once: true }));
  const sb = ms.addSourceBuffer(mime);
  sb.addEventListener("error", () => { error = "SourceBuffer error"; });
  const append = (chunk) => new Promise((resolve) => {
    sb.addEventListener("updateend", resolve, { once: true });
    sb.appendBuffer(chunk);
  });
  await append(init);
  for (const p of parts) { await append(p); if (error || v.error) break; }
  if (error || v.error) return { ok: false, why: error || v.error.message };
  ms.endOfStream();
  await v.play();
  const start = performance.now();
  while (v.currentTime < 1.5 && !v.error && performance.now() - start < 15000)
    await new Promise((r) => setTimeout(r, 100));
  const frames = v.getVideoPlaybackQuality().totalVideoFrames;
  return {
    ok: !v.error && v.currentTime >= 1.5 && frames > 0 && licences === 1,
    reached: v.currentTime, frames, licences, encryptedEvents,
    why: v.error ? v.error.message : undefined,
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
}, [mime, kid, key]);
report(result);
