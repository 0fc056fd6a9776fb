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
  if (
    typeof offer.version !== "string" ||
    offer.version.length === 0 ||
    offer.version.length > 31
  ) {
    // The app descriptor's version field holds 31 characters and a NUL.
    return refuse("offer-malformed", "the offer's version must be a string of 1 to 31 characters");
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
  const order = compareVersions(offer.version, running.version);
  if (order === 0) return { kind: "current" };
  if (order !== undefined && order < 0 && !(offer.rollback && config.allowDowngrade)) {
    return refuse(
      "offer-downgrade",
      `version ${offer.version} is lower than the running ${running.version}; downgrades are refused`,
    );
  }
  return { kind: "accept" };
}
