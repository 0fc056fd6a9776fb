// What the agent keeps on flash across reboots about updates (the update in flight, the image it
// installed), and what makes two offers the same update.
import { shownUrl } from "../download/url";
import type { Offer } from "../offer";
import type { KnownDigests } from "../policy";
import type { HashAlgorithm } from "../ports";
import { toHex } from "../util/bytes";

export type UpdatePhase =
  /** Verified; the otadata switch is under way. */
  | "staging"
  /** The next boot is the new image. */
  | "staged"
  /** The new image booted and runs its self-test. */
  | "testing"
  /** The new image confirmed itself; "succeeded" may not have reached the cloud yet. */
  | "confirmed"
  /** The old image knows the update failed; "failed" may not have reached the cloud yet. */
  | "rolled-back";

/** The update in flight across reboots (key-value store, checksummed). */
export interface UpdateRecord {
  offer: Offer;
  phase: UpdatePhase;
  targetSlot: string;
  previousVersion: string;
  failure?: { code: string; message: string };
  /** What the downloaded image measured (hex), kept as the running image's once it confirms. */
  digests?: KnownDigests;
}

/** The image the agent installed last and saw confirm itself: which update it was. */
export interface ImageRecord {
  slot: string;
  version: string;
  digests: KnownDigests;
}

/**
 * An offer as flash may keep it: the image URL without its user name, password and query (a
 * presigned URL's signature is a credential too). Nothing reads the URL back: after a reboot the
 * update is staged, and a fresh URL comes from the cloud (refresh, or the offer again).
 */
export function storable(offer: Offer): Offer {
  if (offer.source.kind !== "http") return offer;
  const copy = {} as Record<string, unknown>;
  for (const key in offer) copy[key] = (offer as unknown as Record<string, unknown>)[key];
  copy.source = { kind: "http", url: shownUrl(offer.source.url) };
  return copy as unknown as Offer;
}

export function hexDigests(digests: Partial<Record<HashAlgorithm, Uint8Array>>): KnownDigests {
  const out: KnownDigests = {};
  for (const algorithm of Object.keys(digests) as HashAlgorithm[])
    out[algorithm] = toHex(digests[algorithm]!);
  return out;
}

/** Digest notations that may differ for one image (byte order, leading zeros) are not compared. */
const NOTATION_FREE: HashAlgorithm[] = ["md5", "sha256", "sha384", "sha512", "murmur3_128"];

export function sameDigests(a: Offer, b: Offer): boolean {
  for (let i = 0; i < NOTATION_FREE.length; i++) {
    const x = a.hashes[NOTATION_FREE[i]];
    const y = b.hashes[NOTATION_FREE[i]];
    if (x !== undefined && y !== undefined && x.toLowerCase() !== y.toLowerCase()) return false;
  }
  return true;
}
