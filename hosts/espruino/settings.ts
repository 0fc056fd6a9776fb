// Storage "otaflow.json": the cloud, the broker and the device's identity (see README.md).
import type { LogLevel } from "../../src/core/ports";

export interface Settings {
  backend: "aws" | "thingsboard" | "tencent";
  /** `tls`: options for require("tls").connect (ca, key, cert as PEM text); absent for plain MQTT. */
  broker: { host: string; port: number; tls?: Record<string, unknown> };
  thing?: string;
  token?: string;
  title?: string;
  product?: string;
  device?: string;
  secret?: string;
  /** Allows plain MQTT (no `broker.tls`) and http:// image URLs: development only. */
  insecurePlaintext?: boolean;
  /**
   * The keys an image must be signed with: each a Secure Boot V2 key digest (hex, as `otaflow
   * keygen` prints it), a PEM public key, or the hex of a P-256 point. Required, unless
   * `insecureUnsigned`.
   */
  publicKeys?: string[];
  /** Installs unsigned images when there is no `publicKeys`: development only. */
  insecureUnsigned?: boolean;
  /** Least level printed on the console ("info" by default). */
  log?: LogLevel;
  /** Bytes each application slot may take (192 KiB by default). */
  slotSize?: number;
}
