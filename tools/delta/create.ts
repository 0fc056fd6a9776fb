// detools sequential patches (detools/create.py's layout) and the esp_delta_ota container
// (esp_delta_ota_patch_gen.py's 64-byte header) from two images.
import { appendedSha256 } from "../../src/core/delta/base";
import {
  COMPRESSION_HEATSHRINK,
  COMPRESSION_NONE,
  CONTAINER_HEADER_SIZE,
  CONTAINER_MAGIC,
} from "../../src/core/delta/patch";
import { concatBytes } from "../../src/core/util/bytes";
import { diffBody, packSize } from "./diff";
import { heatshrinkEncode } from "./heatshrink";

export interface PatchOptions {
  compression: "heatshrink" | "none";
  /** esp_delta_ota: the 64-byte header naming the base image (heatshrink only). */
  container?: "esp_delta_ota";
}

const WINDOW_BITS = 8;
const LOOKAHEAD_BITS = 7;

export async function createPatch(
  from: Uint8Array,
  to: Uint8Array,
  options: PatchOptions,
): Promise<Uint8Array> {
  const heatshrink = options.compression === "heatshrink";
  if (options.container && !heatshrink)
    throw new Error("esp_delta_ota takes heatshrink patches only");
  const parts: Uint8Array[] = [];
  if (options.container) {
    const header = new Uint8Array(CONTAINER_HEADER_SIZE);
    new DataView(header.buffer).setUint32(0, CONTAINER_MAGIC, true);
    header.set(
      await appendedSha256({ size: from.length, read: async (o, n) => from.slice(o, o + n) }),
      4,
    );
    parts.push(header);
  }
  parts.push(Uint8Array.from([heatshrink ? COMPRESSION_HEATSHRINK : COMPRESSION_NONE]));
  parts.push(Uint8Array.from(packSize(to.length)));
  if (to.length > 0) {
    const body = diffBody(from, to);
    if (heatshrink) {
      parts.push(Uint8Array.from([((WINDOW_BITS - 4) << 4) | (LOOKAHEAD_BITS - 3)]));
      parts.push(heatshrinkEncode(body, WINDOW_BITS, LOOKAHEAD_BITS));
    } else {
      parts.push(body);
    }
  }
  return concatBytes(parts);
}
