// Moddable's File module on Linux (modules/files/file/lin/modFile.c) over a directory of the Node
// side: File(path, write) opens "rb+" or creates the file ("wb+"), reads and writes at `position`;
// Directory.create; File.exists, delete and rename (rename(2): an absolute destination replaces).
import { call, CHUNK_BYTES } from "./board";
import { bytesOf, hexOf } from "./hex";

export class File {
  readonly #path: string;
  readonly #write: boolean;
  #position = 0;

  constructor(path: string, write = false) {
    call("file.open", { path, write });
    this.#path = path;
    this.#write = write;
  }

  get length(): number {
    return call<number>("file.length", { path: this.#path });
  }

  get position(): number {
    return this.#position;
  }

  set position(value: number) {
    this.#position = value;
  }

  read(type: unknown, count?: number): unknown {
    const available = Math.max(0, this.length - this.#position);
    const length = count === undefined ? available : Math.min(count, available);
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += CHUNK_BYTES) {
      const hex = call<string>("file.read", {
        path: this.#path,
        position: this.#position + at,
        length: Math.min(CHUNK_BYTES, length - at),
      });
      out.set(bytesOf(hex), at);
    }
    this.#position += length;
    if (type === String) {
      let text = "";
      for (let i = 0; i < out.length; i++) text += String.fromCharCode(out[i]);
      return text;
    }
    return out.buffer;
  }

  write(...items: (ArrayBuffer | string)[]): void {
    if (!this.#write) throw new Error("file not open for write");
    for (const item of items) {
      const bytes = typeof item === "string" ? bytesOfText(item) : new Uint8Array(item);
      for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
        const piece = bytes.subarray(at, at + CHUNK_BYTES);
        call("file.write", { path: this.#path, position: this.#position, hex: hexOf(piece) });
        this.#position += piece.length;
      }
    }
  }

  close(): void {}

  static exists(path: string): boolean {
    return call<boolean>("file.exists", { path });
  }

  static delete(path: string): boolean {
    return call<boolean>("file.delete", { path });
  }

  static rename(from: string, to: string): boolean {
    return call<boolean>("file.rename", { from, to });
  }
}

/** The File module writes strings as their bytes (ASCII in otadata.json). */
function bytesOfText(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

export class Directory {
  static create(path: string): void {
    call("file.mkdir", { path });
  }
}
