// otaflow delta / otaflow patch: make a detools sequential patch between two images, and apply one
// with the agent's own applier.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { CONTAINER_MAGIC, type PatchFormat } from "../../src/core/delta/patch";
import { appendedSha256 } from "../../src/core/delta/base";
import { toHex } from "../../src/core/util/bytes";
import { createPatch } from "../delta/create";
import { applyPatch } from "../delta/apply";
import { parse, required, UsageError } from "./args";

export const DELTA_USAGE = `Usage: otaflow delta --from OLD.bin --to NEW.bin --out PATCH [--compression heatshrink|none] [--container esp_delta_ota]

Writes a detools "sequential" patch from OLD to NEW: heatshrink-compressed (window 8, lookahead 7,
what ESP-IDF's esp_delta_ota requires) unless --compression none. --container esp_delta_ota puts
esp_delta_ota's 64-byte header first (magic 0xfccdde10, the SHA-256 appended to OLD, 28 zero bytes);
it takes heatshrink only. Prints the patch's size and SHA-256 and the base image's SHA-256.`;

export const PATCH_USAGE = `Usage: otaflow patch --from OLD.bin --patch PATCH --out NEW.bin

Applies a detools sequential patch (heatshrink or none) or an esp_delta_ota patch (recognised by its
magic; OLD must be the image its header names) to OLD with the agent's streaming applier.`;

const COMPRESSIONS = ["heatshrink", "none"];

export async function deltaCommand(argv: string[]): Promise<void> {
  const values = parse(
    argv,
    {
      from: { type: "string" },
      to: { type: "string" },
      out: { type: "string", short: "o" },
      compression: { type: "string" },
      container: { type: "string" },
    },
    DELTA_USAGE,
  );
  if (values.help) return console.log(DELTA_USAGE);
  const compression = (values.compression as string | undefined) ?? "heatshrink";
  if (!COMPRESSIONS.includes(compression))
    throw new UsageError(`--compression must be heatshrink or none, not "${compression}"`);
  const container = values.container as string | undefined;
  if (container !== undefined && container !== "esp_delta_ota")
    throw new UsageError(`--container must be esp_delta_ota, not "${container}"`);
  if (container && compression !== "heatshrink")
    throw new UsageError("esp_delta_ota takes heatshrink patches only");
  const from = new Uint8Array(fs.readFileSync(required(values, "from", DELTA_USAGE)));
  const to = new Uint8Array(fs.readFileSync(required(values, "to", DELTA_USAGE)));
  const out = required(values, "out", DELTA_USAGE);
  const patch = await createPatch(from, to, {
    compression: compression as "heatshrink" | "none",
    container: container as "esp_delta_ota" | undefined,
  });
  fs.writeFileSync(out, patch);
  const percent = ((100 * patch.length) / to.length).toFixed(1);
  const base = await appendedSha256({
    size: from.length,
    read: async (o, n) => from.slice(o, o + n),
  });
  console.log(
    `${out}: ${patch.length} bytes (${percent} % of ${to.length}), sha256 ${sha256(patch)}, base sha256 ${toHex(base)}`,
  );
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function formatOf(patch: Uint8Array): PatchFormat {
  const magic =
    patch.length >= 4 ? new DataView(patch.buffer, patch.byteOffset).getUint32(0, true) : 0;
  return magic === CONTAINER_MAGIC ? "esp_delta_ota" : "detools";
}

export async function patchCommand(argv: string[]): Promise<void> {
  const values = parse(
    argv,
    { from: { type: "string" }, patch: { type: "string" }, out: { type: "string", short: "o" } },
    PATCH_USAGE,
  );
  if (values.help) return console.log(PATCH_USAGE);
  const from = new Uint8Array(fs.readFileSync(required(values, "from", PATCH_USAGE)));
  const patch = new Uint8Array(fs.readFileSync(required(values, "patch", PATCH_USAGE)));
  const out = required(values, "out", PATCH_USAGE);
  const target = await applyPatch(from, patch, formatOf(patch));
  fs.writeFileSync(out, target);
  console.log(`${out}: ${target.length} bytes, sha256 ${sha256(target)}`);
}
