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
   * The public keys an image must be signed with: the hex of each point (as `otaflow keygen` prints
   * it), or PEM. Required, unless `insecureUnsigned`.
   */
  publicKeys?: string[];
  /** Installs unsigned images when there is no `publicKeys`: development only. */
  insecureUnsigned?: boolean;
  /** Least level printed on the console ("info" by default). */
  log?: LogLevel;
  /** Bytes each application slot may take (192 KiB by default). */
  slotSize?: number;
}
