// Reads the WebVTT (wvtt) tracks of an MP4 file with mp4box.js (an independent parser)
// and prints one JSON line per sample: {"track","start","end","cues":[texts]} (seconds),
// where cues are the payl texts of its vttc boxes (none: a vtte gap sample).
//   node mp4box-wvtt.mjs FILE.mp4
import { readFileSync } from "node:fs";
import { createFile, VTTin4Parser } from "mp4box";

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
const parser = new VTTin4Parser();
const lines = [];
for (const t of info.tracks.filter((t) => t.codec === "wvtt")) {
  for (const s of file.getTrackSamplesInfo(t.id)) {
    // The sample's bytes where mp4box.js says they are (parseSample wants its own buffer).
    const bytes = new Uint8Array(data.subarray(s.offset, s.offset + s.size));
    const cues = parser.parseSample(bytes).map((c) => c.payl.text);
    lines.push(JSON.stringify({ track: t.id, start: s.cts / s.timescale,
                                end: (s.cts + s.duration) / s.timescale, cues }));
  }
}
console.log(lines.join("\n"));
