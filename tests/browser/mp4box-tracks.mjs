// Reads the init segment of an MP4 file with mp4box.js (an independent parser) and prints
// one JSON line per track: {"id","handler","mdhd","elng"}: the mdhd language (ISO 639-2/T)
// and the elng extended language (BCP 47, null without an elng box).
//   node mp4box-tracks.mjs FILE.mp4
import { readFileSync } from "node:fs";
import { createFile } from "mp4box";

const data = readFileSync(process.argv[2]);
const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
buffer.fileStart = 0;
const file = createFile();
let error = null;
file.onError = (e) => { error = String(e); };
file.appendBuffer(buffer);
file.flush();
if (error || !file.moov) {
  console.error(`mp4box.js: ${error ?? "no moov found"}`);
  process.exit(1);
}
for (const trak of file.moov.traks) {
  const mdia = trak.mdia;
  console.log(JSON.stringify({
    id: trak.tkhd.track_id,
    handler: mdia.hdlr.handler,
    mdhd: mdia.mdhd.languageString,
    elng: mdia.elng ? mdia.elng.extended_language : null,
  }));
}
