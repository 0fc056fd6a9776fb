// The agent's settings and their defaults: the transfer's (journal, retries, backoff) and the
// rest of the update policy.
import type { TransferConfig } from "../transfer";

export interface AgentConfig extends Required<TransferConfig> {
  /** How long the new image's self-test may take before it counts as failed. */
  selfTestTimeoutMs: number;
  allowDowngrade: boolean;
  /** Least time between two progress reports to the cloud. */
  progressIntervalMs: number;
  /** Least progress, in percent, between two progress reports to the cloud. */
  progressStepPercent: number;
  /** ESP-IDF chip id the image must be built for (0 = ESP32); undefined skips the check. */
  chipId?: number;
  /** Reboot into the staged image at once; otherwise the application calls reboot() itself. */
  autoReboot: boolean;
  httpReadTimeoutMs: number;
  maxRedirects: number;
  /** Accept plain http:// image URLs and redirects; off by default (https:// only). */
  allowPlaintext: boolean;
  /** Hosts image URLs may name: exact, or "*.example.com" for subdomains; empty: any host. */
  allowedHosts: string[];
  /**
   * Keys built into the firmware: PEM public keys or certificates (ECDSA P-256 or RSA-3072), the
   * hex of a Secure Boot V2 key digest, or the hex of a 65-byte P-256 point. With any, an image must
   * be signed by one of them (a Secure Boot V2 sector, a V1 trailer or afr_ota's detached
   * signature), or it is not staged. None: images are not signature-checked.
   */
  trustedKeys: string[];
}

export const DEFAULT_CONFIG: AgentConfig = {
  journalIntervalBytes: 64 * 1024,
  maxAttempts: 8,
  backoff: { baseMs: 1000, maxMs: 60_000 },
  // A slow cellular link (GPRS, NB-IoT at the cell's edge) still does a few hundred bytes a
  // second; a server below 128 over two minutes is stalling. Six hours fit 2 MiB at 100 B/s.
  minRateBytesPerSecond: 128,
  minRateWindowMs: 120_000,
  downloadBudgetMs: 6 * 3600_000,
  selfTestTimeoutMs: 60_000,
  allowDowngrade: false,
  progressIntervalMs: 1000,
  progressStepPercent: 5,
  chipId: undefined,
  autoReboot: true,
  httpReadTimeoutMs: 30_000,
  maxRedirects: 5,
  allowPlaintext: false,
  allowedHosts: [],
  trustedKeys: [],
};
