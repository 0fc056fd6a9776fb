// The legacy "flash" module on ESP32, for the two app slots it names.
import { bytesOf } from "./hex";
import { call, CHUNK_BYTES } from "./board";

export default class Flash {
  readonly #path: string;
  readonly byteLength: number;
  readonly blockSize: number;

  constructor(path: string) {
    const info = call<{ size: number; blockLength: number }>("esp32.partition", { path });
    this.#path = path;
    this.byteLength = info.size;
    this.blockSize = info.blockLength;
  }

  read(offset: number, byteLength: number): ArrayBuffer {
    const out = new Uint8Array(byteLength);
    for (let at = 0; at < byteLength; at += CHUNK_BYTES) {
      const length = Math.min(CHUNK_BYTES, byteLength - at);
      out.set(
        bytesOf(call<string>("esp32.read", { path: this.#path, offset: offset + at, length })),
        at,
      );
    }
    return out.buffer;
  }
}
