// A whole patch applied in memory with the agent's streaming applier (otaflow patch, tests).
import { PatchApplier, type PatchFormat } from "../../src/core/delta/patch";
import { appendedSha256 } from "../../src/core/delta/base";
import { concatBytes } from "../../src/core/util/bytes";

export async function applyPatch(
  from: Uint8Array,
  patch: Uint8Array,
  format: PatchFormat,
  piece = 4096,
): Promise<Uint8Array> {
  const base = { size: from.length, read: async (o: number, n: number) => from.slice(o, o + n) };
  // Only the container names its base; a plain patch applies to whatever it is given.
  const baseSha256 = format === "esp_delta_ota" ? await appendedSha256(base) : undefined;
  const applier = new PatchApplier(base, { format, baseSha256 });
  const parts: Uint8Array[] = [];
  const out = new Uint8Array(4096);
  for (let at = 0; at < patch.length; at += piece) {
    applier.feed(patch.subarray(at, at + piece));
    for (;;) {
      const n = await applier.pull(out, out.length);
      if (n === 0) break;
      parts.push(out.slice(0, n));
    }
  }
  applier.finish();
  return concatBytes(parts);
}
