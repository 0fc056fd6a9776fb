// ECMA-419 embedded:update on ESP32 (modules/io/update/esp32/update-esp32.{js,c}), with its
// argument checks and the errors its tests expect (tests/modules/io/update/*.js).
import { nativeError } from "./board";
import { OtaSession } from "./ota-session";
import { Flash } from "./flash";

type Bytes = ArrayBuffer | ArrayBufferView;

function view(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    if ((data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT! > 1)
      throw new TypeError("invalid buffer");
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new TypeError("invalid buffer");
}

class Updater {
  #session: OtaSession | undefined;
  #closed = false;
  readonly #append: boolean;

  constructor(session: OtaSession, append: boolean) {
    this.#session = session;
    this.#append = append;
  }

  write(bytes: Bytes, byteOffset?: number): void {
    if (this.#closed) throw new SyntaxError("closed");
    const session = this.#session;
    if (!session) throw new Error("already complete");
    if (this.#append) {
      if (arguments.length > 1) throw new Error("offset not allowed");
      session.write(view(bytes));
    } else {
      if (byteOffset === undefined) throw new SyntaxError("offset required");
      if (!(byteOffset >= 0 && byteOffset <= 0xffffffff)) throw new RangeError("invalid offset");
      session.writeAt(view(bytes), byteOffset);
    }
  }

  complete(): void {
    if (this.#closed) throw new SyntaxError("closed");
    const session = this.#session;
    if (!session) throw new Error("already complete");
    this.#session = undefined;
    session.complete();
  }

  /** esp_ota_abort unless complete; idempotent. */
  close(): void {
    this.#closed = true;
    this.#session = undefined;
  }

  get format(): string {
    return "buffer";
  }
}

const Update = {
  open(options: { partition: unknown; mode?: unknown; byteLength?: unknown }): Updater {
    if (!options || !("partition" in options)) throw new Error("no partition");
    const partition = options.partition;
    if (!(partition instanceof Flash) || !partition.isOpen)
      throw new SyntaxError("partition not found");
    if (partition.path !== "nextota") throw new Error("partition not found");
    if (partition.readOnly) throw new Error("read-only partition");
    const mode = options.mode === undefined ? "a" : options.mode;
    if (typeof mode === "symbol") throw new TypeError("invalid mode");
    if (mode !== "a" && mode !== "w") throw new RangeError("invalid mode");
    let byteLength = 0;
    if (options.byteLength !== undefined) {
      byteLength = Number(options.byteLength);
      if (!(byteLength >= 0 && byteLength <= partition.status().size))
        throw new RangeError("invalid byteLength");
    }
    try {
      return new Updater(new OtaSession(mode === "a", byteLength), mode === "a");
    } catch (error) {
      throw nativeError(error, "begin failed");
    }
  },
};

export default Update;
