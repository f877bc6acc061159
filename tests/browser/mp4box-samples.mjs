// Parses an MP4 file with mp4box.js (an independent parser) and prints one line per
// sample: "TRACK SIZE DTS CTS SYNC" (times in the track's timescale, SYNC 0 or 1), after
// a first line "fragmented true|false".
//   node mp4box-samples.mjs FILE.mp4
import { readFileSync } from "node:fs";
import { createFile } from "mp4box";

const path = process.argv[2];
const data = readFileSync(path);
const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
buffer.fileStart = 0;
const file = createFile();
let info = null;
let error = null;
file.onReady = (i) => { info = i; };
file.onError = (e) => { error = String(e); };
file.appendBuffer(buffer);
file.flush();
if (error || !info) {
  console.error(`mp4box.js: ${error ?? "no moov found"}`);
  process.exit(1);
}
const lines = [`fragmented ${info.isFragmented}`];
for (const t of info.tracks) {
  for (const s of file.getTrackSamplesInfo(t.id)) {
    lines.push(`${t.id} ${s.size} ${s.dts} ${s.cts} ${s.is_sync ? 1 : 0}`);
  }
}
console.log(lines.join("\n"));
