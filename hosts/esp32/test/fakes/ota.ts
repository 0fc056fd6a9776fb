// The legacy ESP32 "ota" module (build/devices/esp32/modules/ota/ota.c): sequential writes only.
import { nativeError } from "./board";
import { OtaSession } from "./ota-session";

export default class OTA {
  #session: OtaSession | undefined;

  constructor() {
    try {
      this.#session = new OtaSession(true, 0);
    } catch (error) {
      throw nativeError(error, "begin failed");
    }
  }

  write(data: ArrayBuffer | Uint8Array): void {
    if (!this.#session) throw new Error("write failed");
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    this.#session.write(bytes);
  }

  cancel(): void {
    this.#session = undefined;
  }

  complete(): void {
    const session = this.#session;
    if (!session) throw new Error("bad state");
    this.#session = undefined;
    session.complete();
  }
}
