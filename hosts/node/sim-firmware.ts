// The simulated firmware's behaviour, which the image tool records in a segment of the image: what
// its self-test does when the simulated board runs it. The record is a data segment starting
// SIM_RECORD_MAGIC, then JSON, then a NUL.
import { readU32 } from "../../src/core/image/esp-image";

export type SelfTestBehaviour = "pass" | "fail" | "crash" | "hang";

export const BEHAVIOURS: readonly SelfTestBehaviour[] = ["pass", "fail", "crash", "hang"];
export const SIM_RECORD_MAGIC = "OTAFLOW-SIM";

const IMAGE_HEADER_SIZE = 24;
const SEGMENT_HEADER_SIZE = 8;
const SEGMENT_COUNT = 1;

/** The segment data that records a behaviour: NUL-terminated, padded to a word. */
export function behaviourRecord(selfTest: SelfTestBehaviour): Uint8Array {
  const text = new TextEncoder().encode(SIM_RECORD_MAGIC + JSON.stringify({ selfTest }));
  const out = new Uint8Array((text.length + 1 + 3) & ~3);
  out.set(text);
  return out;
}

/** The self-test behaviour recorded in an image made by the image tool. */
export function readSimBehaviour(image: Uint8Array): SelfTestBehaviour {
  const count = image[SEGMENT_COUNT];
  let at = IMAGE_HEADER_SIZE;
  const magic = new TextEncoder().encode(SIM_RECORD_MAGIC);
  for (let i = 0; i < count && at + SEGMENT_HEADER_SIZE <= image.length; i++) {
    const length = readU32(image, at + 4);
    const data = image.subarray(at + SEGMENT_HEADER_SIZE, at + SEGMENT_HEADER_SIZE + length);
    if (data.length > magic.length && magic.every((b, k) => data[k] === b)) {
      const end = data.indexOf(0);
      const text = new TextDecoder().decode(
        data.subarray(magic.length, end < 0 ? data.length : end),
      );
      const selfTest = (JSON.parse(text) as { selfTest?: SelfTestBehaviour }).selfTest;
      if (selfTest && BEHAVIOURS.includes(selfTest)) return selfTest;
      throw new Error(`simulator record has an unknown selfTest: ${text}`);
    }
    at += SEGMENT_HEADER_SIZE + length;
  }
  throw new Error("image has no otaflow simulator record: it was not made by the image tool");
}
