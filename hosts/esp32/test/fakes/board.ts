// The XS side of the board the fakes stand for: every fake Moddable module reaches the Node side
// (test/hosts/esp32-xs/board.ts) through call(). Once the board is halted (esp_restart, a power
// cut, or the test asking) every further call fails, as nothing outlives a reset; the case running
// the app learns it through whenHalted().
import { clock, host } from "../../../../test/xs/runtime";
import { bytesOf } from "./hex";

/**
 * Most bytes of data sent to or asked of the Node side in one operation. The harness encodes and
 * decodes each message a character at a time (charCodeAt, string appends), which XS, with its
 * UTF-8 strings, makes quadratic in the message's length: 64 KiB in one message takes seconds.
 */
export const CHUNK_BYTES = 1024;

let halted: string | undefined;
const listeners: ((reason: string) => void)[] = [];

export function halt(reason: string): void {
  if (halted !== undefined) return;
  halted = reason;
  for (const listener of listeners.splice(0, listeners.length)) listener(reason);
}

/** Resolves with the reason the board stopped. */
export function whenHalted(): Promise<string> {
  return new Promise((resolve) => {
    if (halted !== undefined) resolve(halted);
    else listeners.push(resolve);
  });
}

/** A synchronous operation on the Node side of the board. */
export function call<T>(operation: string, argument: unknown = {}): T {
  if (halted !== undefined) throw new Error(`board halted (${halted})`);
  try {
    return host<T>(operation, argument);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.indexOf("power cut") >= 0) halt("power cut");
    throw error;
  }
}

/** Bytes a test handed over (esp32.test on the Node side holds them as a Uint8Array). */
export function testBytes(key: string): Uint8Array {
  const length = call<number>("esp32.testLength", { key });
  const out = new Uint8Array(length);
  for (let at = 0; at < length; at += CHUNK_BYTES) {
    const hex = call<string>("esp32.testBytes", { key, offset: at, length: CHUNK_BYTES });
    out.set(bytesOf(hex), at);
  }
  return out;
}

/**
 * What a native module throws when ESP-IDF fails: its own terse message ("write failed"...), the
 * Node side's reason as the cause. A power cut is not a failure the module sees: it propagates.
 */
export function nativeError(error: unknown, message: string): Error {
  if (String(error).indexOf("power cut") >= 0) return error as Error;
  return new Error(message, { cause: error });
}

/** Calls `tick` every `ms` of virtual time until it returns false or the board halts. */
export function every(ms: number, tick: () => boolean): void {
  const run = () => {
    if (halted !== undefined || !tick()) return;
    clock.setTimeout(run, ms);
  };
  clock.setTimeout(run, ms);
}

/** The board's console: trace() lines go to the Node side, which keeps them for the test. */
export function installTrace(): void {
  // xsnap has a trace() of its own that writes nowhere the test can read.
  Object.defineProperty(globalThis, "trace", {
    value: (...parts: unknown[]) => {
      if (halted === undefined) host("esp32.console", { text: parts.map(String).join("") });
    },
    writable: true,
    configurable: true,
  });
}
