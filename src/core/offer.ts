import type { HashAlgorithm } from "./ports";

/** Where an image's bytes come from. */
export type ImageSource =
  | { kind: "http"; url: string }
  /** ThingsBoard's MQTT chunk protocol; the backend supplies the ByteSource. */
  | { kind: "mqtt-chunks"; packageType: "firmware" | "software" };

/** An update the cloud proposes, in the backend-independent form the agent works with. */
export interface Offer {
  /** Name of the backend that made it ("aws", "thingsboard", "tencent"). */
  backend: string;
  /** The cloud's identity of this update: an AWS job id, a ThingsBoard title@version, a Tencent version. */
  id: string;
  /**
   * Version of the offered image; "" when the cloud does not say (AWS afr_ota and Zerynth jobs):
   * the agent then takes it from the image's app descriptor as soon as the header arrives.
   */
  version: string;
  /** Image size in bytes, as the cloud announces it. */
  size: number;
  /** Expected project name (ThingsBoard title), compared with the image's app descriptor. */
  title?: string;
  source: ImageSource;
  /** Expected digests, lower-case hex (CRC32 and Murmur3 in the notations of offer-hashes.ts). */
  hashes: Partial<Record<HashAlgorithm, string>>;
  /** A detached signature over the image, kept for verification. */
  signature?: { algorithm: "ecdsa-p256-sha256"; value: string; certificate?: string };
  /** The image's secure_version, when the cloud says: refused before download below the eFuse's. */
  secureVersion?: number;
  /** The offer is a deliberate rollback: policy may allow a lower version. */
  rollback?: boolean;
  /**
   * The backend's own bookkeeping (AWS execution version, ThingsBoard request id...), persisted with
   * the update so that the image that boots next can report on it.
   */
  context: Record<string, string | number | boolean>;
}

/** What the agent tells a backend; each backend maps it onto its cloud's statuses. */
export type ReportStatus =
  /** The offer was refused before anything was written (AWS REJECTED). */
  | "rejected"
  /** The device already runs the offered version. */
  | "current"
  | "downloading"
  | "downloaded"
  | "verified"
  /** Staged and about to reboot into the new image. */
  | "updating"
  /** The new image booted and runs its self-test. */
  | "testing"
  /** The new image confirmed itself. */
  | "succeeded"
  | "failed";

export interface Report {
  offer: Offer;
  status: ReportStatus;
  /** Bytes received so far and total, with "downloading". */
  progress?: { bytes: number; total: number };
  /** With "failed" and "rejected". */
  failure?: { code: string; message: string };
  /** Version that ran before this update (AWS updatedBy). */
  previousVersion?: string;
}
