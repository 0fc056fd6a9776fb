// Moddable's crypt Digest: incremental, any byte buffer or string in write(), the digest from
// close(), reset() to start again. The bytes are hashed by Node's crypto on the Node side,
// independently of the core's TypeScript hashes.
import { utf8Encode } from "../../../../src/core/util/bytes";
import { call, CHUNK_BYTES } from "./board";
import { bytesOf, hexOf } from "./hex";

const ALGORITHMS: Record<string, string> = {
  MD5: "md5",
  SHA1: "sha1",
  SHA224: "sha224",
  SHA256: "sha256",
  SHA384: "sha384",
  SHA512: "sha512",
};

function viewOf(data: unknown): Uint8Array {
  if (typeof data === "string") return utf8Encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("invalid buffer");
}

export class Digest {
  readonly #algorithm: string;
  #id: number;

  constructor(type: string) {
    const algorithm = ALGORITHMS[type];
    if (!algorithm) throw new Error("crypt: unsupported digest");
    this.#algorithm = algorithm;
    this.#id = call<number>("esp32.digest.begin", { algorithm });
  }

  write(data: unknown): void {
    const bytes = viewOf(data);
    for (let at = 0; at < bytes.length; at += CHUNK_BYTES)
      call("esp32.digest.update", {
        id: this.#id,
        hex: hexOf(bytes.subarray(at, at + CHUNK_BYTES)),
      });
  }

  close(): ArrayBuffer {
    const digest = bytesOf(call<string>("esp32.digest.end", { id: this.#id }));
    this.#id = call<number>("esp32.digest.begin", { algorithm: this.#algorithm });
    return digest.buffer as ArrayBuffer;
  }

  reset(): void {
    call("esp32.digest.end", { id: this.#id });
    this.#id = call<number>("esp32.digest.begin", { algorithm: this.#algorithm });
  }
}
