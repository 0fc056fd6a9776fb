// Builds real ESP-IDF app images for the simulator: the layout esptool's elf2image writes, with an
// app descriptor carrying the version and project, a segment carrying the simulated firmware's
// behaviour, and filler segments sized so that the file is exactly as long as asked.

import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import {
  APP_DESC_MAGIC,
  APP_DESC_SIZE,
  CHECKSUM_INITIAL,
  FIELD,
  HASH_SIZE,
  IMAGE_HEADER_SIZE,
  IMAGE_MAGIC,
  MAX_SEGMENTS,
  MAX_SEGMENT_LENGTH,
  SEGMENT_HEADER_SIZE,
  checksumOffset,
} from "../../src/core/image/esp-image";
import { chipNamed, chipWithId, ESP32, type Chip } from "../../hosts/node/chips";
import { MODELLED_IDF_VERSION } from "../../hosts/node/bootloader";
import { BEHAVIOURS, behaviourRecord, type SelfTestBehaviour } from "../../hosts/node/sim-firmware";

export type { SelfTestBehaviour } from "../../hosts/node/sim-firmware";
export { readSimBehaviour, SIM_RECORD_MAGIC } from "../../hosts/node/sim-firmware";

export interface AppImageOptions {
  version: string;
  project?: string;
  /** Total file size in bytes, a multiple of 16 (ESP-IDF pads the checksum to a 16-byte block). */
  size?: number;
  selfTest?: SelfTestBehaviour;
  secureVersion?: number;
  /** The chip the image is for, by esptool's name (esp32, esp32s3, ...): its id and memory map. */
  chip?: string;
  /** The chip by esp_chip_id_t, for callers that hold the id; `chip` wins when both are given. */
  chipId?: number;
  /** The app descriptor's idf_ver: the ESP-IDF the image says it was built with. */
  idfVersion?: string;
  /** Seed of the pseudo-random filler; by default derived from the version and project. */
  seed?: number;
}

export const DEFAULT_PROJECT = "otaflow-sim";
export const DEFAULT_IMAGE_SIZE = 64 * 1024;
// The chip's memory map (hosts/node/chips.ts, from soc.h): DROM and IROM are mapped from flash
// through the 64 KiB MMU pages, so their load address must equal their flash offset modulo 64 KiB;
// DRAM and IRAM are loaded, clear of the bootloader's own RAM.
const MMU_PAGE = 0x10000;
const IRAM_MAX = 1024;
/** Keeps IROM inside its 0x400D0000..0x40400000 window. */
const IROM_MAX = 2 * 1024 * 1024;
/** Load address 0: a padding segment, neither mapped nor loaded (esptool's alignment padding). */
const PADDING_LOAD = 0;

interface Segment {
  loadAddr: number | ((dataOffset: number) => number);
  data: Uint8Array;
}

function ascii(text: string, size: number, field: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length >= size) throw new Error(`${field} "${text}" is longer than ${size - 1} bytes`);
  const out = new Uint8Array(size);
  out.set(bytes);
  return out;
}

/** xorshift32: a deterministic filler, different for every seed. */
function filler(length: number, state: { s: number }): Uint8Array {
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, length >> 2);
  let s = state.s;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s;
  }
  state.s = s;
  return out;
}

function defaultSeed(version: string, project: string): number {
  const digest = createHash("sha256").update(`${project}\0${version}`).digest();
  return digest.readUInt32LE(0) || 1;
}

function appDescriptor(opts: {
  version: string;
  project: string;
  secureVersion: number;
  seed: number;
  idfVersion: string;
}): Uint8Array {
  const desc = new Uint8Array(APP_DESC_SIZE);
  const view = new DataView(desc.buffer);
  const at = (fileOffset: number) => fileOffset - FIELD.descMagic;
  view.setUint32(at(FIELD.descMagic), APP_DESC_MAGIC, true);
  view.setUint32(at(FIELD.secureVersion), opts.secureVersion, true);
  desc.set(ascii(opts.version, 32, "version"), at(FIELD.version));
  desc.set(ascii(opts.project, 32, "project"), at(FIELD.project));
  // Fixed build time: the same options give the same bytes.
  desc.set(ascii("00:00:00", 16, "time"), at(FIELD.time));
  desc.set(ascii("Jan  1 2025", 16, "date"), at(FIELD.date));
  desc.set(ascii(opts.idfVersion, 32, "idf_ver"), at(FIELD.idfVersion));
  const elf = createHash("sha256").update(`elf\0${opts.project}\0${opts.version}\0${opts.seed}`);
  desc.set(elf.digest(), at(FIELD.elfSha256));
  return desc;
}

/** Lengths of the filler segments that take exactly `room` bytes, headers included. */
function fillerLengths(room: number): number[] {
  const caps = [IRAM_MAX, IROM_MAX];
  const lengths: number[] = [];
  let left = room;
  while (left > 0) {
    const cap = lengths.length < caps.length ? caps[lengths.length] : MAX_SEGMENT_LENGTH;
    let length = Math.min(cap, left - SEGMENT_HEADER_SIZE);
    const rest = left - SEGMENT_HEADER_SIZE - length;
    // A remainder too small for a segment header and one word moves into the next segment.
    if (rest > 0 && rest < SEGMENT_HEADER_SIZE + 4) length -= SEGMENT_HEADER_SIZE + 4 - rest;
    lengths.push(length);
    left -= SEGMENT_HEADER_SIZE + length;
  }
  return lengths;
}

function imageChip(opts: AppImageOptions): Chip {
  if (opts.chip !== undefined) return chipNamed(opts.chip);
  if (opts.chipId === undefined) return ESP32;
  const chip = chipWithId(opts.chipId);
  if (!chip) throw new Error(`chip id ${opts.chipId} is not a chip the simulator knows`);
  return chip;
}

/** Returns a complete app image file; throws when the options cannot make a valid one. */
export function buildAppImage(opts: AppImageOptions): Uint8Array {
  const project = opts.project ?? DEFAULT_PROJECT;
  const size = opts.size ?? DEFAULT_IMAGE_SIZE;
  const selfTest = opts.selfTest ?? "pass";
  const chip = imageChip(opts);
  const { drom, irom, dram, iram } = chip.layout;
  const idfVersion = opts.idfVersion ?? MODELLED_IDF_VERSION;
  const secureVersion = opts.secureVersion ?? 0;
  const seed = opts.seed ?? defaultSeed(opts.version, project);
  if (!BEHAVIOURS.includes(selfTest))
    throw new Error(`selfTest must be one of ${BEHAVIOURS.join(", ")}, not "${selfTest}"`);

  const fixed: Segment[] = [
    {
      loadAddr: (offset) => drom + (offset % MMU_PAGE),
      data: appDescriptor({ version: opts.version, project, secureVersion, seed, idfVersion }),
    },
    { loadAddr: dram, data: behaviourRecord(selfTest) },
  ];
  let fixedEnd = IMAGE_HEADER_SIZE;
  for (const s of fixed) fixedEnd += SEGMENT_HEADER_SIZE + s.data.length;
  // The segments end 4 bytes before a 16-byte boundary: 3 bytes of padding, the checksum, the hash.
  const minimum = (fixedEnd + SEGMENT_HEADER_SIZE + 4 + 4 + HASH_SIZE + 15) & ~15;
  if (!Number.isInteger(size) || size < minimum || size % 16 !== 0)
    throw new Error(
      `image size must be a multiple of 16 of at least ${minimum} bytes for these options, not ${size}`,
    );
  const segmentsEnd = size - HASH_SIZE - 4;
  const lengths = fillerLengths(segmentsEnd - fixedEnd);
  if (fixed.length + lengths.length > MAX_SEGMENTS)
    throw new Error(`image size ${size} needs more than ${MAX_SEGMENTS} segments`);

  const random = { s: seed >>> 0 || 1 };
  const segments = fixed.slice();
  lengths.forEach((length, i) => {
    const loadAddr =
      i === 0 ? iram : i === 1 ? (offset: number) => irom + (offset % MMU_PAGE) : PADDING_LOAD;
    segments.push({ loadAddr, data: filler(length, random) });
  });

  const image = new Uint8Array(size);
  const view = new DataView(image.buffer);
  image[0] = IMAGE_MAGIC;
  image[FIELD.segmentCount] = segments.length;
  image[FIELD.spiMode] = 2; // DIO
  image[FIELD.spiSpeedSize] = 0x20; // 4 MB flash, 40 MHz
  view.setUint32(FIELD.entryAddr, iram, true);
  image[FIELD.wpPin] = 0xee; // no WP pin
  view.setUint16(FIELD.chipId, chip.id, true);
  view.setUint16(FIELD.maxChipRevFull, 399, true);
  image[FIELD.hashAppended] = 1;

  let at = IMAGE_HEADER_SIZE;
  let xor = CHECKSUM_INITIAL;
  for (const segment of segments) {
    const dataOffset = at + SEGMENT_HEADER_SIZE;
    const load =
      typeof segment.loadAddr === "number" ? segment.loadAddr : segment.loadAddr(dataOffset);
    view.setUint32(at, load, true);
    view.setUint32(at + 4, segment.data.length, true);
    image.set(segment.data, dataOffset);
    for (let i = 0; i < segment.data.length; i++) xor ^= segment.data[i];
    at = dataOffset + segment.data.length;
  }
  const checksumAt = checksumOffset(at);
  image[checksumAt] = xor;
  const hash = createHash("sha256")
    .update(image.subarray(0, checksumAt + 1))
    .digest();
  image.set(hash, checksumAt + 1);
  if (checksumAt + 1 + HASH_SIZE !== size) throw new Error("internal: image layout is off");
  return image;
}

export function writeImageFile(path: string, opts: AppImageOptions): Uint8Array {
  const image = buildAppImage(opts);
  writeFileSync(path, image);
  return image;
}
