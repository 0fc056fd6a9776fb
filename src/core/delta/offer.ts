// Whether an offer's delta can be used here: the running image must be the patch's base. Otherwise
// the full image is taken when the offer has one, and the offer is refused when it has none.
import { otaError } from "../errors";
import type { Offer } from "../offer";
import type { ByteSource } from "../source";
import type { HostPorts } from "../ports";
import { toHex } from "../util/bytes";
import { appendedSha256 } from "./base";
import { DeltaSource } from "./source";

export interface DeltaChoice {
  /** The patch applied to the running image, or undefined: the full image. */
  source: DeltaSource | undefined;
  /** Why the delta is not used. */
  refused?: string;
}

/** The full image is absent when the offer's HTTP URL is empty. */
function hasFullImage(offer: Offer): boolean {
  return offer.source.kind !== "http" || offer.source.url !== "";
}

export async function chooseDelta(
  offer: Offer,
  ports: HostPorts,
  identity: string,
  patchSource: (url: string, size: number) => ByteSource,
): Promise<DeltaChoice> {
  const delta = offer.delta;
  if (!delta) return { source: undefined };
  let refused: string | undefined;
  let base: Uint8Array | undefined;
  const running = ports.running;
  if (!running) refused = "this host cannot read its running image";
  else {
    try {
      base = await appendedSha256(running);
      if (toHex(base) !== delta.baseSha256.toLowerCase())
        refused =
          `the running image (SHA-256 ${toHex(base)}) is not the patch's base ` +
          `(${delta.baseSha256})`;
    } catch (error) {
      refused = (error as Error).message;
    }
  }
  if (refused === undefined && running && base) {
    const source = new DeltaSource({
      patch: patchSource(delta.url, delta.size),
      patchSize: delta.size,
      targetSize: offer.size,
      format: delta.format,
      base: running,
      baseSha256: base,
      identity: identity + ";delta=" + delta.baseSha256 + ":" + delta.size,
      sectorSize: ports.slot.sectorSize,
      store: ports.store,
      logger: ports.logger,
    });
    return { source };
  }
  if (!hasFullImage(offer)) throw otaError("delta-base-mismatch", `delta refused: ${refused}`);
  ports.logger.log("warn", `delta refused: ${refused}; taking the full image`);
  return { source: undefined, refused };
}
