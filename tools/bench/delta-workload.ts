// Delta application measured inside XS (xsnap's compute meter): the esp_delta_ota vector applied
// four times (1 MiB of target) by the core's applier, against the portable SHA-256 of 1 MiB (work
// every update does anyway) in the same run.
import { PatchApplier } from "../../src/core/delta/patch";
import { createDigest } from "../../src/core/hash/index";
import { fromHex, toHex } from "../../src/core/util/bytes";
import { host, type Cases } from "../../test/xs/runtime";

let base: Uint8Array = new Uint8Array(0);
let patch: Uint8Array = new Uint8Array(0);

function load(file: "base" | "patch"): Uint8Array {
  const { size } = host<{ size: number }>("deltaVector", { file });
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 2048)
    bytes.set(fromHex(host<string>("imageSlice", { offset: at, length: 2048 }))!, at);
  return bytes;
}

export const ROUNDS = 4;

const cases: Cases = {
  load() {
    base = load("base");
    patch = load("patch");
    return { base: base.length, patch: patch.length };
  },
  async apply() {
    const reader = {
      size: base.length,
      read: (offset: number, length: number) =>
        Promise.resolve(base.subarray(offset, offset + length)),
    };
    const out = new Uint8Array(4096);
    let made = 0;
    let sum = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const applier = new PatchApplier(reader, {
        format: "esp_delta_ota",
        baseSha256: base.subarray(base.length - 32),
      });
      for (let at = 0; at < patch.length; at += 1024) {
        applier.feed(patch.subarray(at, at + 1024));
        for (;;) {
          const n = await applier.pull(out, out.length);
          if (n === 0) break;
          made += n;
          sum = (sum + out[0] + out[n - 1]) & 0xffff;
        }
      }
      applier.finish();
    }
    return { made, sum };
  },
  sha256() {
    const digest = createDigest("sha256");
    for (let round = 0; round < ROUNDS; round++) {
      for (let at = 0; at < base.length; at += 4096) digest.update(base.subarray(at, at + 4096));
    }
    return toHex(digest.digest());
  },
};

export default cases;
