// ECMA-419 embedded:storage/flash on ESP32 (modules/io/flash/esp32/flash-esp32.{js,c}): the app
// slots "running" and "nextota" of the board's flash. Erases are by block number, reads and writes
// by byte offset; a write over bytes that are not erased fails, as NOR flash does on the board.
import { bytesOf, hexOf } from "./hex";
import { call, CHUNK_BYTES } from "./board";

type Bytes = ArrayBuffer | ArrayBufferView;

function view(data: Bytes): Uint8Array {
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

export class Flash {
  readonly path: string;
  readonly readOnly: boolean;
  #open = true;
  readonly #size: number;
  readonly #blockLength: number;

  constructor(path: string, readOnly: boolean) {
    const info = call<{ size: number; blockLength: number }>("esp32.partition", { path });
    this.path = path;
    this.readOnly = readOnly;
    this.#size = info.size;
    this.#blockLength = info.blockLength;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  close(): void {
    this.#open = false;
  }

  eraseBlock(start: number, end: number = start + 1): void {
    this.#check(true);
    call("esp32.erase", {
      path: this.path,
      offset: start * this.#blockLength,
      length: (end - start) * this.#blockLength,
    });
  }

  read(what: number | Bytes, offset: number): ArrayBuffer | number {
    this.#check(false);
    const target = typeof what === "number" ? new Uint8Array(what) : view(what);
    for (let at = 0; at < target.length; at += CHUNK_BYTES) {
      const length = Math.min(CHUNK_BYTES, target.length - at);
      const hex = call<string>("esp32.read", { path: this.path, offset: offset + at, length });
      target.set(bytesOf(hex), at);
    }
    return typeof what === "number" ? (target.buffer as ArrayBuffer) : target.length;
  }

  write(buffer: Bytes, offset: number): void {
    this.#check(true);
    const data = view(buffer);
    for (let at = 0; at < data.length; at += CHUNK_BYTES) {
      const piece = data.subarray(at, at + CHUNK_BYTES);
      call("esp32.write", { path: this.path, offset: offset + at, hex: hexOf(piece) });
    }
  }

  status(): { size: number; blockLength: number; blocks: number } {
    this.#check(false);
    return {
      size: this.#size,
      blockLength: this.#blockLength,
      blocks: this.#size / this.#blockLength,
    };
  }

  get format(): string {
    return "buffer";
  }

  #check(writing: boolean): void {
    if (!this.#open) throw new SyntaxError("closed");
    if (writing && this.readOnly) throw new Error("read-only");
  }
}

const FlashStorage = {
  open(options: { path: string; mode?: string }): Flash {
    if (!options || options.path === undefined) throw new Error("no path");
    const mode = options.mode === undefined ? "r+" : options.mode;
    if (mode !== "r" && mode !== "r+") throw new Error("invalid mode");
    return new Flash(options.path, mode === "r");
  },
};

export default FlashStorage;
