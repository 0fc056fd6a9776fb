// An Espruino application image: an ESP-IDF app image (the format the agent verifies for every
// host) whose first segment is the app descriptor (version, project, secure version) and whose
// second segment is the application's JavaScript, padded with newlines to a word. The XOR
// checksum and the appended SHA-256 are ESP-IDF's; the boot file runs the second segment.
import { createHash } from "node:crypto";
import {
  APP_DESC_MAGIC,
  APP_DESC_SIZE,
  CHECKSUM_INITIAL,
  FIELD,
  HASH_SIZE,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  SEGMENT_HEADER_SIZE,
  checksumOffset,
} from "../../src/core/image/esp-image";

export interface ScriptImageOptions {
  version: string;
  project: string;
  script: string;
  secureVersion?: number;
}

/** Segment load addresses as esptool would give them (DROM for the descriptor, DRAM for data). */
const DROM_BASE = 0x3f400000;
const DRAM_LOAD = 0x3ffb0000;

function text(value: string, size: number, field: string): Buffer {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length >= size) throw new Error(`${field} "${value}" is longer than ${size - 1} bytes`);
  return bytes;
}

export function buildScriptImage(opts: ScriptImageOptions): Uint8Array {
  const descriptor = Buffer.alloc(APP_DESC_SIZE);
  const at = (fileOffset: number) => fileOffset - FIELD.descMagic;
  descriptor.writeUInt32LE(APP_DESC_MAGIC, at(FIELD.descMagic));
  descriptor.writeUInt32LE(opts.secureVersion || 0, at(FIELD.secureVersion));
  text(opts.version, 32, "version").copy(descriptor, at(FIELD.version));
  text(opts.project, 32, "project").copy(descriptor, at(FIELD.project));
  const script = Buffer.from(opts.script, "utf8");
  const padded = Buffer.alloc((script.length + 3) & ~3, "\n");
  script.copy(padded);

  const segments = [
    { load: DROM_BASE + ((IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE) % 0x10000), data: descriptor },
    { load: DRAM_LOAD, data: padded },
  ];
  const segmentsEnd =
    IMAGE_HEADER_SIZE + segments.reduce((n, s) => n + SEGMENT_HEADER_SIZE + s.data.length, 0);
  const checksumAt = checksumOffset(segmentsEnd);
  const image = Buffer.alloc(checksumAt + 1 + HASH_SIZE);
  image[0] = IMAGE_MAGIC;
  image[FIELD.segmentCount] = segments.length;
  image[FIELD.spiMode] = 2;
  image[FIELD.spiSpeedSize] = 0x20;
  image.writeUInt32LE(DRAM_LOAD, FIELD.entryAddr);
  image[FIELD.wpPin] = 0xee;
  image[FIELD.hashAppended] = 1;
  let offset = IMAGE_HEADER_SIZE;
  let xor = CHECKSUM_INITIAL;
  for (const segment of segments) {
    image.writeUInt32LE(segment.load, offset);
    image.writeUInt32LE(segment.data.length, offset + 4);
    segment.data.copy(image, offset + SEGMENT_HEADER_SIZE);
    for (const byte of segment.data) xor ^= byte;
    offset += SEGMENT_HEADER_SIZE + segment.data.length;
  }
  image[checksumAt] = xor;
  createHash("sha256")
    .update(image.subarray(0, checksumAt + 1))
    .digest()
    .copy(image, checksumAt + 1);
  return new Uint8Array(image.buffer, image.byteOffset, image.length);
}
