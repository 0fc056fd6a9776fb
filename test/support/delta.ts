// The delta vectors for tests: the two images made again with the image tool (the same bytes as the
// ground-truth vectors, checked by digest), and the patches detools and Espressif's generator made.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { buildAppImage } from "../../tools/image/build";

const DIR = path.join(import.meta.dirname, "..", "core", "fixtures", "delta");

const DIGESTS = new Map(
  fs
    .readFileSync(path.join(DIR, "SHA256SUMS"), "utf8")
    .trim()
    .split("\n")
    .map((line) => {
      const [digest, name] = line.split(/\s+/);
      return [name, digest] as const;
    }),
);

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A vector file by name, checked against the digest the vectors list for it. */
function checked(name: string, data: Uint8Array): Uint8Array {
  const expected = DIGESTS.get(name);
  if (sha256Hex(data) !== expected) throw new Error(`${name} is not the vector's bytes`);
  return data;
}

/** The ESP-IDF version the vectors' images name: the image tool's default when they were made. */
export const VECTORS_IDF = "v5.2.2";

export const baseImage = () =>
  checked(
    "delta-from-1.0.0.bin",
    buildAppImage({ version: "1.0.0", size: 262144, seed: 1, idfVersion: VECTORS_IDF }),
  );
export const targetImage = () =>
  checked(
    "delta-to-1.0.1.bin",
    buildAppImage({ version: "1.0.1", size: 262144, seed: 1, idfVersion: VECTORS_IDF }),
  );
export const vectorPatch = (kind: "sequential-heatshrink" | "esp_delta_ota") => {
  const name = `delta-1.0.0-to-1.0.1.${kind}.patch`;
  return checked(name, new Uint8Array(fs.readFileSync(path.join(DIR, name))));
};
export const vectorDigest = (name: string) => DIGESTS.get(name) as string;

export function memoryBase(image: Uint8Array) {
  return {
    size: image.length,
    read: async (offset: number, length: number) => image.slice(offset, offset + length),
  };
}
