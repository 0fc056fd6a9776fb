// The Linux target boots the image tool's images (`otaflow image`), whose only code is a record
// of how the simulated firmware's self-test behaves: "OTAFLOW-SIM" then JSON such as
// {"selfTest":"fail"}, at the start of one segment. The desktop build reads it from the slot it
// booted and behaves as the node simulator does: pass, fail once the cloud is reachable, crash
// (reset before confirming) or hang (never confirm).
import { otaError } from "../../src/core/errors";
import {
  FIELD,
  IMAGE_HEADER_SIZE,
  MAX_SEGMENTS,
  SEGMENT_HEADER_SIZE,
  readU32,
} from "../../src/core/image/esp-image";
import type { SelfTest } from "../../src/core/agent/agent";
import { readBytes } from "./files";

const MAGIC = "OTAFLOW-SIM";
/** Longer than any record the image tool writes. */
const RECORD_MAX = 128;

function ascii(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length && bytes[i] !== 0; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/** The record's self-test behaviour, or undefined for an image without one (a real app). */
export function readSelfTestBehaviour(path: string): string | undefined {
  const count = readBytes(path, FIELD.segmentCount, 1)[0] || 0;
  let at = IMAGE_HEADER_SIZE;
  for (let i = 0; i < count && i < MAX_SEGMENTS; i++) {
    const header = readBytes(path, at, SEGMENT_HEADER_SIZE);
    if (header.length < SEGMENT_HEADER_SIZE) return undefined;
    const length = readU32(header, 4);
    const text = ascii(readBytes(path, at + SEGMENT_HEADER_SIZE, Math.min(length, RECORD_MAX)));
    if (text.substring(0, MAGIC.length) === MAGIC) {
      try {
        const record = JSON.parse(text.substring(MAGIC.length)) as { selfTest?: unknown };
        return typeof record.selfTest === "string" ? record.selfTest : undefined;
      } catch {
        return undefined;
      }
    }
    at += SEGMENT_HEADER_SIZE + length;
  }
  return undefined;
}

/** The self-test the booted image's record asks for; undefined keeps the agent's default. */
export function simulatedSelfTest(
  behaviour: string | undefined,
  reset: (reason: string) => void,
): SelfTest | undefined {
  switch (behaviour) {
    case "fail":
      return async (context) => {
        await context.cloudReachable;
        throw otaError("self-test-failed", "the image's own checks failed (simulated)");
      };
    case "crash":
      return () => {
        reset("crash: the image reset before it could confirm itself (simulated)");
        return new Promise<void>(() => {});
      };
    case "hang":
      return () => new Promise<void>(() => {});
    default:
      return undefined;
  }
}
