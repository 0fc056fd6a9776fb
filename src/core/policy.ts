// Policy: whether an offer may be downloaded at all. Everything here is decided before a single
// byte is written, so a refused offer costs no flash and is reported as refused (AWS REJECTED).
import { otaError, type OtaError } from "./errors";
import type { Offer } from "./offer";
import type { RunningImage, SlotWriter } from "./ports";
import { compareVersions } from "./version";

export interface PolicyConfig {
  /** Accept an offer of a lower version when the offer is marked as a rollback. */
  allowDowngrade: boolean;
}

export type Decision =
  { kind: "accept" } | { kind: "current" } | { kind: "refuse"; error: OtaError };

function refuse(code: OtaError["code"], message: string): Decision {
  return { kind: "refuse", error: otaError(code, message) };
}

export function decide(
  offer: Offer,
  running: RunningImage,
  slot: SlotWriter,
  config: PolicyConfig,
): Decision {
  if (typeof offer.version !== "string" || offer.version.length > 31) {
    // The app descriptor's version field holds 31 characters and a NUL.
    return refuse(
      "offer-malformed",
      "the offer's version must be a string of at most 31 characters",
    );
  }
  if (typeof offer.size !== "number" || !(offer.size > 0) || offer.size % 1 !== 0) {
    return refuse(
      "offer-malformed",
      `the offer's size must be a positive whole number, not ${offer.size}`,
    );
  }
  if (offer.size > slot.size) {
    return refuse(
      "offer-too-large",
      `image of ${offer.size} bytes does not fit ${slot.name} (${slot.size} bytes)`,
    );
  }
  if (offer.source.kind === "http" && !/^https?:\/\/[^\s]+$/.test(offer.source.url)) {
    return refuse("offer-malformed", "the image URL must be http:// or https://");
  }
  // Without a version, the image's own is judged when its header arrives (checkImageVersion).
  if (offer.version === "") return { kind: "accept" };
  const order = compareVersions(offer.version, running.version);
  if (order === 0) return { kind: "current" };
  return checkDowngrade(offer, offer.version, running, config) || { kind: "accept" };
}

function checkDowngrade(
  offer: Offer,
  version: string,
  running: RunningImage,
  config: PolicyConfig,
): Decision | undefined {
  const order = compareVersions(version, running.version);
  if (order !== undefined && order < 0 && !(offer.rollback && config.allowDowngrade)) {
    return refuse(
      "offer-downgrade",
      `version ${version} is lower than the running ${running.version}; downgrades are refused`,
    );
  }
  return undefined;
}

/**
 * The version policy for an offer that did not name its version, applied to the version in the
 * image's app descriptor. Throws the refusal; the same version as the running one is refused too,
 * since installing it again would only cost a reboot.
 */
export function checkImageVersion(
  offer: Offer,
  version: string,
  running: RunningImage,
  config: PolicyConfig,
): void {
  if (compareVersions(version, running.version) === 0) {
    throw otaError("offer-unsupported", `the image is version ${version}, which already runs`);
  }
  const refused = checkDowngrade(offer, version, running, config);
  if (refused && refused.kind === "refuse") throw refused.error;
}
