// Shared by the browser checks: serve a page on 127.0.0.1, open it in Debian's headless
// Chromium, evaluate `window.run(arg)` there, print the JSON result and exit 0 when ok.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";

/// `handler(req, res)` answers everything but "/", which serves `page`.
export async function runPage(page, handler, arg) {
  const server = http.createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(page);
    }
    handler(req, res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
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
    await tab.goto(`http://127.0.0.1:${server.address().port}/`);
    result = await tab.evaluate((a) => window.run(a), arg);
  } catch (e) {
    result = { ok: false, why: String(e) };
  } finally {
    await browser.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  return result;
}

/// Page code: splitFragments(data) returns { init, parts } of a fragmented MP4's bytes:
/// the init segment (everything before the first moof) and each moof+mdat pair.
export const SPLIT_FRAGMENTS = `
function splitFragments(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const parts = [];
  let pos = 0, init = 0, current = null;
  while (pos < data.length) {
    let size = view.getUint32(pos);
    const type = String.fromCharCode(...data.subarray(pos + 4, pos + 8));
    if (size === 1) size = Number(view.getBigUint64(pos + 8));
    if (type === "moof") { if (!init) init = pos; current = pos; }
    if (type === "mdat" && current !== null) { parts.push(data.subarray(current, pos + size)); current = null; }
    pos += size;
  }
  return { init: data.subarray(0, init), parts };
}`;

/// Prints `result` as one JSON line and exits 0 when it is ok.
export function report(result) {
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
