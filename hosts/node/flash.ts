// A NOR flash chip in a file. Every access is a synchronous call on one file descriptor, so a
// process killed at any point leaves the file holding exactly the operations that completed (and,
// for the one under way, whatever prefix the kernel had taken): what a power cut leaves on a board.
//
// NOR rules: erase works on whole 4 KiB sectors and sets them to 0xFF; a write can only clear bits.
// A write that would need to set a bit (writing over data that was never erased) is the bug it is
// on a board, where it silently corrupts the data, so here it throws.
import * as fs from "node:fs";
import * as path from "node:path";
import { otaError } from "../../src/core/errors";
import { CHIPS, chipWithId, ESP32, type Chip } from "./chips";
import { defaultLayout, encodePartitionTable, PARTITION_TABLE_OFFSET } from "./partitions";

export const SECTOR_SIZE = 0x1000;
export const DEFAULT_FLASH_SIZE = 4 * 1024 * 1024;
/** Flash chip sizes esptool knows (1 MB to 128 MB), plus 256 MiB to 1 GiB for 32-bit-address chips. */
const MIN_FLASH_SIZE = 1024 * 1024;
const MAX_FLASH_SIZE = 1024 * 1024 * 1024;
/** Bytes moved per read or write call when filling or copying large ranges. */
const CHUNK = 1024 * 1024;

let erasedChunk: Uint8Array | undefined;
/** CHUNK bytes of 0xFF, made once: what an erase writes. */
function erased(): Uint8Array {
  return (erasedChunk ??= new Uint8Array(CHUNK).fill(0xff));
}

/** Where a write's check reads the bytes it would program over (3 more for the alignment). */
const checkBuffer = new Uint8Array(CHUNK + 3);

/**
 * Index of the first byte where `wanted` has a 1 bit that `current` lacks, or -1. Both have the
 * same length and the same address modulo 4: 32-bit words over the aligned middle, bytes around.
 */
function firstConflict(current: Uint8Array, wanted: Uint8Array): number {
  const n = wanted.length;
  let i = 0;
  while (i < n && ((wanted.byteOffset + i) & 3) !== 0) {
    if ((wanted[i] & ~current[i]) !== 0) return i;
    i++;
  }
  const count = (n - i) >> 2;
  if (count > 0) {
    const have = new Int32Array(current.buffer, current.byteOffset + i, count);
    const want = new Int32Array(wanted.buffer, wanted.byteOffset + i, count);
    let j = 0;
    while (j < count && (want[j] & ~have[j]) === 0) j++;
    // A word with a conflict stops the words; the bytes below find which of its bytes it is.
    i += j * 4;
  }
  for (; i < n; i++) if ((wanted[i] & ~current[i]) !== 0) return i;
  return -1;
}

/** A fact about a range of the flash, held until an erase or a write touches the range. */
interface Memo {
  key: string;
  offset: number;
  end: number;
  value: unknown;
}

/** The FlashFiles open in this process, by file (device and inode), so that a write through one
 * drops what every one of them remembers about the bytes it changes. */
const openFiles = new Map<string, Set<FlashFile>>();

export type FlashOperationKind = "erase" | "write";

/**
 * Called before every erase and write. It may throw (the operation does not happen), kill the
 * process, or return a byte count: then only that prefix of the operation reaches the flash and a
 * power-cut error is thrown, which models a write or erase torn by a power cut.
 */
export type BeforeOperation = (
  kind: FlashOperationKind,
  index: number,
  offset: number,
  length: number,
) => number | void;

export interface FlashCreateOptions {
  /** Bytes; a power of two from 1 MiB to 1 GiB. Default 4 MiB. */
  size?: number;
  /** An app image placed in ota_0, as a factory programmer leaves a board (otadata stays erased). */
  factoryImage?: Uint8Array;
  /** The chip the flash is made for (default ESP32): recorded in its bootloader's image header. */
  chip?: Chip;
}

const IMAGE_MAGIC = 0xe9;
const HEADER_CHIP_ID = 12;

/**
 * The header of the second-stage bootloader image, where the ROM reads it: this is how a flash
 * says which chip it was made for (esptool writes the chip id into it). The simulator does not run
 * the bootloader's code, so the image is its header alone.
 */
function bootloaderHeader(chip: Chip): Uint8Array {
  const header = new Uint8Array(24);
  header[0] = IMAGE_MAGIC;
  header[2] = 2; // DIO
  header[3] = 0x20;
  header[8] = 0xee; // no WP pin
  new DataView(header.buffer).setUint16(HEADER_CHIP_ID, chip.id, true);
  return header;
}

/** The chip this flash records, undefined for a flash file made before flash files recorded it. */
export function flashChip(flash: {
  read(offset: number, length: number): Uint8Array;
}): Chip | { id: number } | undefined {
  const offsets = [...new Set(CHIPS.map((chip) => chip.bootloaderOffset))];
  for (const offset of offsets) {
    const header = flash.read(offset, 24);
    if (header[0] !== IMAGE_MAGIC) continue;
    const id = header[HEADER_CHIP_ID] | (header[HEADER_CHIP_ID + 1] << 8);
    const chip = chipWithId(id);
    if (chip && chip.bootloaderOffset === offset) return chip;
    if (!chip) return { id };
  }
  return undefined;
}

/** Why this flash cannot boot on `chip` (it was made for another), or undefined. */
export function flashChipProblem(
  flash: { readonly path?: string; read(offset: number, length: number): Uint8Array },
  chip: Chip,
): string | undefined {
  const made = flashChip(flash);
  if (made === undefined || made.id === chip.id) return undefined;
  const name = "name" in made ? made.name : `chip id ${made.id}`;
  return `${flash.path ?? "this flash"} was made for ${name}, not ${chip.name}: its bootloader's image header says chip id ${made.id}, and the ${chip.name} ROM would not start it (give --chip ${name}, or make a new flash file)`;
}

const POWER_CUT = "power cut";

/** True for the error a torn operation throws. */
export function isPowerCut(error: unknown): boolean {
  return error instanceof Error && (error as Error & { powerCut?: boolean }).powerCut === true;
}

function powerCutError(kind: FlashOperationKind, index: number, done: number): Error {
  const error = new Error(`${POWER_CUT} during ${kind} #${index} after ${done} bytes`);
  (error as Error & { powerCut?: boolean }).powerCut = true;
  return error;
}

function hex(value: number, digits = 1): string {
  return "0x" + value.toString(16).padStart(digits, "0");
}

function parsePowerCutAt(): number | undefined {
  const text = process.env.OTAFLOW_POWER_CUT_AT;
  if (text === undefined || text === "") return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`OTAFLOW_POWER_CUT_AT must be a non-negative integer, not "${text}"`);
  return value;
}

// Counted across every FlashFile of the process, because a device reboots in-process and reopens
// its flash: "operation N" in OTAFLOW_POWER_CUT_AT means the Nth since the process started.
const powerCutAt = parsePowerCutAt();
let processOperations = 0;

/**
 * OTAFLOW_POWER_CUT_AT_ADDRESS=<address>[+<length>] makes the process SIGKILL itself right before
 * the first erase or write that touches that flash range (e.g. 0xd000+0x2000, the otadata
 * partition: a power cut in the middle of the otadata switch), whatever came before it.
 */
function parsePowerCutAddress(): { start: number; end: number } | undefined {
  const text = process.env.OTAFLOW_POWER_CUT_AT_ADDRESS;
  if (text === undefined || text === "") return undefined;
  const [start, length = "1"] = text.split("+").map((part) => part.trim());
  const range = { start: Number(start), end: Number(start) + Number(length) };
  if (!Number.isInteger(range.start) || range.start < 0 || !(range.end > range.start))
    throw new Error(
      `OTAFLOW_POWER_CUT_AT_ADDRESS must be ADDRESS or ADDRESS+LENGTH, not "${text}"`,
    );
  return range;
}

const powerCutAddress = parsePowerCutAddress();

function checkFlashSize(size: number): void {
  const powerOfTwo = Number.isInteger(size) && size > 0 && (size & (size - 1)) === 0;
  if (!powerOfTwo || size < MIN_FLASH_SIZE || size > MAX_FLASH_SIZE)
    throw otaError(
      "flash",
      `flash size ${size} is not a power of two between ${MIN_FLASH_SIZE} and ${MAX_FLASH_SIZE} bytes`,
    );
}

export class FlashFile {
  /** Erase and write operations on this FlashFile so far. */
  operations = 0;
  beforeOperation: BeforeOperation | undefined;
  private fd: number;
  private readonly identity: string;
  private memos: Memo[] = [];
  /**
   * Bytes this FlashFile erased that no FlashFile has written since: they hold 0xFF, so a write
   * inside them obeys the NOR rule without reading them back (the slot writer's sequential case).
   */
  private erasedFrom = 0;
  private erasedTo = 0;

  private constructor(
    readonly path: string,
    readonly size: number,
    fd: number,
  ) {
    this.fd = fd;
    const stat = fs.fstatSync(fd);
    this.identity = `${stat.dev}:${stat.ino}`;
    const siblings = openFiles.get(this.identity) ?? new Set<FlashFile>();
    siblings.add(this);
    openFiles.set(this.identity, siblings);
  }

  /** Opens an existing flash file; its length is the flash size. */
  static open(file: string): FlashFile {
    const fd = fs.openSync(file, "r+");
    const size = fs.fstatSync(fd).size;
    try {
      checkFlashSize(size);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    return new FlashFile(file, size, fd);
  }

  /**
   * Creates a flash file as it leaves the factory: erased, with the partition table (and the
   * factory image in ota_0 when given). It is built under a temporary name and renamed, so a
   * process killed during creation never leaves a half-made flash file under the real name.
   * Refuses to overwrite an existing file.
   */
  static create(file: string, options: FlashCreateOptions = {}): FlashFile {
    const size = options.size ?? DEFAULT_FLASH_SIZE;
    checkFlashSize(size);
    if (fs.existsSync(file)) throw otaError("flash", `flash file ${file} already exists`);
    const temporary = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${process.pid}.creating`,
    );
    const fd = fs.openSync(temporary, "w+");
    try {
      for (let at = 0; at < size; at += CHUNK) fs.writeSync(fd, erased(), 0, CHUNK, at);
      const layout = defaultLayout(size);
      const chip = options.chip ?? ESP32;
      fs.writeSync(fd, bootloaderHeader(chip), 0, undefined, chip.bootloaderOffset);
      fs.writeSync(fd, encodePartitionTable(layout), 0, undefined, PARTITION_TABLE_OFFSET);
      if (options.factoryImage) {
        const ota0 = layout.find((p) => p.label === "ota_0");
        if (!ota0 || options.factoryImage.length > ota0.size)
          throw otaError(
            "flash",
            `factory image of ${options.factoryImage.length} bytes does not fit ota_0 (${ota0?.size ?? 0} bytes)`,
          );
        fs.writeSync(fd, options.factoryImage, 0, undefined, ota0.offset);
      }
      fs.fsyncSync(fd);
      fs.renameSync(temporary, file);
    } catch (error) {
      fs.closeSync(fd);
      fs.rmSync(temporary, { force: true });
      throw error;
    }
    return new FlashFile(file, size, fd);
  }

  read(offset: number, length: number): Uint8Array {
    return this.readInto(new Uint8Array(length), offset);
  }

  /** Fills `out` with the bytes at `offset`, for readers that reuse a buffer; gives `out`. */
  readInto(out: Uint8Array, offset: number): Uint8Array {
    this.checkRange("read", offset, out.length);
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(this.fd, out, done, out.length - done, offset + done);
      if (n === 0) throw otaError("flash", `flash file ${this.path} is shorter than ${this.size}`);
      done += n;
    }
    return out;
  }

  /** Sets whole sectors to 0xFF. */
  erase(offset: number, length: number): void {
    this.checkRange("erase", offset, length);
    if (offset % SECTOR_SIZE !== 0 || length % SECTOR_SIZE !== 0)
      throw otaError(
        "flash",
        `erase of ${hex(length)} bytes at ${hex(offset)} is not aligned to the ${hex(SECTOR_SIZE)} sector`,
      );
    const allowed = this.startOperation("erase", offset, length);
    const end = offset + Math.min(length, allowed);
    for (let at = offset; at < end; at += CHUNK)
      fs.writeSync(this.fd, erased(), 0, Math.min(CHUNK, end - at), at);
    // Joined to the erased bytes known so far when it touches them, else it replaces them.
    const joins = offset <= this.erasedTo && this.erasedFrom <= end;
    this.erasedFrom = joins ? Math.min(this.erasedFrom, offset) : offset;
    this.erasedTo = joins ? Math.max(this.erasedTo, end) : end;
    if (allowed < length) throw powerCutError("erase", this.operations - 1, allowed);
  }

  /** Programs bytes: every 1 bit of `data` must still be 1 in the flash. */
  write(offset: number, data: Uint8Array): void {
    this.checkRange("write", offset, data.length);
    // Checked before the operation counts: on a board the bad write would go through and leave
    // corrupt data, which is a bug in the caller, not a power cut.
    const known = this.erasedFrom <= offset && offset + data.length <= this.erasedTo;
    for (let at = 0; !known && at < data.length; at += CHUNK) {
      const wanted = data.subarray(at, Math.min(data.length, at + CHUNK));
      const shift = wanted.byteOffset & 3;
      const current = checkBuffer.subarray(shift, shift + wanted.length);
      this.readInto(current, offset + at);
      const i = firstConflict(current, wanted);
      if (i >= 0)
        throw otaError(
          "flash",
          `write over unerased data at ${hex(offset + at + i)}: ${hex(current[i], 2)} -> ${hex(wanted[i], 2)}`,
        );
    }
    const allowed = this.startOperation("write", offset, data.length);
    const length = Math.min(data.length, allowed);
    let done = 0;
    while (done < length) done += fs.writeSync(this.fd, data, done, length - done, offset + done);
    if (allowed < data.length) throw powerCutError("write", this.operations - 1, allowed);
  }

  /**
   * Flushes to the disk (a killed process loses nothing without it; a crashed OS would), on
   * libuv's thread pool so that the caller may read and check meanwhile.
   */
  sync(): Promise<void> {
    const fd = this.fd;
    return new Promise((resolve, reject) =>
      fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())),
    );
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.memos = [];
    const siblings = openFiles.get(this.identity);
    siblings?.delete(this);
    if (siblings?.size === 0) openFiles.delete(this.identity);
  }

  /**
   * Keeps `value`, a fact about the bytes at [offset, offset + length) (an image verified there),
   * until an erase or a write touches them through any FlashFile open on this file in this
   * process, the only writer of a simulated flash.
   */
  remember(key: string, offset: number, length: number, value: unknown): void {
    this.memos = this.memos.filter((memo) => memo.key !== key || memo.offset !== offset);
    this.memos.push({ key, offset, end: offset + length, value });
  }

  /** What `remember` kept under `key` for that range, if its bytes have not changed since. */
  recall(key: string, offset: number, length: number): unknown {
    return this.memos.find(
      (memo) => memo.key === key && memo.offset === offset && memo.end === offset + length,
    )?.value;
  }

  /** Counts the operation, runs the hooks, and gives how many of its bytes may reach the flash. */
  private startOperation(kind: FlashOperationKind, offset: number, length: number): number {
    const end = offset + length;
    for (const flash of openFiles.get(this.identity) ?? []) {
      if (flash.memos.length > 0)
        flash.memos = flash.memos.filter((memo) => memo.end <= offset || end <= memo.offset);
      if (kind === "write" && offset < flash.erasedTo && flash.erasedFrom < end) {
        // What is left of the erased bytes: the part after the write, else the part before it.
        if (end < flash.erasedTo) flash.erasedFrom = end;
        else flash.erasedTo = Math.max(flash.erasedFrom, offset);
      }
    }
    const index = this.operations++;
    if (powerCutAt !== undefined && processOperations === powerCutAt)
      process.kill(process.pid, "SIGKILL");
    if (powerCutAddress && offset < powerCutAddress.end && powerCutAddress.start < offset + length)
      process.kill(process.pid, "SIGKILL");
    processOperations++;
    const allowed = this.beforeOperation?.(kind, index, offset, length);
    return typeof allowed === "number" ? Math.max(0, Math.min(length, allowed)) : length;
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (this.fd < 0) throw otaError("flash", `flash file ${this.path} is closed`);
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    )
      throw otaError(
        "flash",
        `${what} of ${length} bytes at ${hex(offset)} is outside the ${hex(this.size)}-byte flash`,
      );
  }
}
