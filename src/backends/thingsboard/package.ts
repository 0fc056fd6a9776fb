// A ThingsBoard package as its shared attributes describe it (fw_* or sw_*), read into an Offer, or
// the reason the device refuses it (FAILED with fw_error).
import type { FailureCode } from "../../core/errors";
import type { Offer } from "../../core/offer";
import type { HashAlgorithm } from "../../core/ports";
import { quoted } from "../../core/util/text";
import { nameProblem, readHex, readSize, sizeProblem, urlProblem } from "../offer-fields";

export type PackageKind = "firmware" | "software";

export type Attributes = Record<string, unknown>;

export const BACKEND_NAME = "thingsboard";

/** Netty's default maximum MQTT payload on the server (NETTY_MAX_PAYLOAD_SIZE). */
export const MAX_CHUNK_SIZE = 65536;

/** Most chunk requests in flight at once, adapted or not. */
export const MAX_WINDOW = 64;

/** Longest title, version and tag: what ThingsBoard's @Length allows an OTA package's. */
export const MAX_NAME_LENGTH = 255;

/** ThingsBoard's ChecksumAlgorithm names onto the core's; SHA256 when the attribute is absent. */
const ALGORITHMS: Record<string, HashAlgorithm> = {
  MD5: "md5",
  SHA256: "sha256",
  SHA384: "sha384",
  SHA512: "sha512",
  CRC32: "crc32",
  MURMUR3_32: "murmur3_32",
  MURMUR3_128: "murmur3_128",
};

/**
 * Hex digits of each algorithm's checksum: the digest's, except that CRC32 and MURMUR3_32 may lose
 * their leading zeros (Long.toHexString, see core/hash).
 */
const CHECKSUM_DIGITS: Record<HashAlgorithm, [number, number]> = {
  md5: [32, 32],
  sha256: [64, 64],
  sha384: [96, 96],
  sha512: [128, 128],
  crc32: [1, 8],
  murmur3_32: [1, 8],
  murmur3_128: [32, 32],
};

export function prefixOf(kind: unknown): string {
  return kind === "software" ? "sw" : "fw";
}

export function text(value: unknown): string | undefined {
  if (typeof value === "string") return value.length > 0 ? value : undefined;
  if (typeof value === "number" && isFinite(value)) return String(value);
  return undefined;
}

/** An attribute that may arrive as a JSON number (a version typed as 1.1) as the string it means. */
function asText(value: unknown): unknown {
  return typeof value === "number" && isFinite(value) ? String(value) : value;
}

/** Why the device cannot take an assignment: FAILED with this fw_error. */
export interface Refusal {
  code: FailureCode;
  message: string;
}

export function malformed(message: string): Refusal {
  return { code: "offer-malformed", message };
}

/** The package the attributes describe, or why it cannot be offered. */
export function buildOffer(
  attributes: Attributes,
  title: string,
  version: string,
  kind: PackageKind,
  allowMissingChecksum: boolean,
): Offer | Refusal {
  const key = (name: string) => prefixOf(kind) + "_" + name;
  const sizeValue = attributes[key("size")];
  if (sizeValue === undefined)
    return malformed(
      "The " +
        kind +
        " package has no " +
        key("size") +
        ": the device needs its size before it erases a slot",
    );
  const size = readSize(sizeValue, true);
  if (size === undefined) return malformed(sizeProblem(key("size"), sizeValue));
  const algorithmName = text(attributes[key("checksum_algorithm")]) || "SHA256";
  const algorithm = ALGORITHMS[algorithmName.toUpperCase()];
  if (!algorithm)
    return {
      code: "offer-unsupported",
      message: "Received checksum algorithm (" + algorithmName + ") is not supported",
    };
  const hashes: Offer["hashes"] = {};
  const checksum = attributes[key("checksum")];
  if (checksum !== undefined) {
    const digits = CHECKSUM_DIGITS[algorithm];
    const hex = readHex(asText(checksum), digits[0], digits[1]);
    if (hex === undefined)
      return malformed(
        key("checksum") +
          " must be " +
          (digits[0] === digits[1] ? digits[0] : digits[0] + "-" + digits[1]) +
          " hex digits of " +
          algorithmName +
          ", got " +
          quoted(checksum),
      );
    hashes[algorithm] = hex;
  } else if (!allowMissingChecksum) {
    return malformed(
      "The " +
        kind +
        " package has no " +
        key("checksum") +
        ": nothing would check its bytes (the policy's allowMissingChecksum accepts such packages)",
    );
  }
  const url = attributes[key("url")];
  if (url !== undefined) {
    const problem = urlProblem(url);
    if (problem !== undefined) return malformed(key("url") + " " + problem);
  }
  const context: Offer["context"] = { kind };
  const tag = asText(attributes[key("tag")]);
  if (tag !== undefined) {
    const problem = nameProblem(tag, MAX_NAME_LENGTH);
    if (problem !== undefined) return malformed(key("tag") + " " + problem);
    context.tag = tag as string;
  }
  return {
    backend: BACKEND_NAME,
    id: title + "@" + version,
    version,
    size,
    title,
    source:
      url !== undefined
        ? { kind: "http", url: url as string }
        : { kind: "mqtt-chunks", packageType: kind },
    hashes,
    context,
  };
}
