// Holes found from outside, replayed on the simulated board with the real agent and a cloud reduced
// to its contract: a server that trickles (2), a cancel during a retry wait (3), failures no retry
// can cure (4), credentials in the image URL (7). Each scenario returns the violations it saw.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AgentConfig } from "../../../src/core/agent/agent";
import type { Offer, Report } from "../../../src/core/offer";
import { FlashFile } from "../../../hosts/node/flash";
import { defaultLayout } from "../../../hosts/node/partitions";
import { ScriptedCloud } from "../../../test/support/scripted-cloud";
import { startFirmwareServer, type Fault, type FirmwareServer } from "../../fwserver/index";
import { buildAppImage } from "../../image/build";
import { runBoard, type BoardRun } from "../board";

export interface HoleResult {
  /** What the cloud was told last: "succeeded", "failed: CODE", or "none". */
  outcome: string;
  violations: string[];
  /** Requests the firmware server saw. */
  requests: number;
  ms: number;
}

const OLD = "1.0.0";
const NEW = "1.1.0";

/** A provisioned flash file, a firmware server with one image, and the offer of that image. */
export class HoleBench {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-holes-"));
  readonly flashPath = path.join(this.dir, "device.flash");
  private readonly template = path.join(this.dir, "template.flash");
  server!: FirmwareServer;
  update!: Uint8Array;

  static async start(
    options: { imageSize?: number; tls?: { cert: string; key: string } } = {},
  ): Promise<HoleBench> {
    const bench = new HoleBench();
    bench.server = await startFirmwareServer({ root: bench.dir, tls: options.tls });
    bench.update = buildAppImage({ version: NEW, size: options.imageSize ?? 64 * 1024, seed: 7 });
    fs.writeFileSync(path.join(bench.dir, "update.bin"), bench.update);
    FlashFile.create(bench.template, {
      factoryImage: buildAppImage({ version: OLD, size: 32 * 1024 }),
    }).close();
    return bench;
  }

  offer(id: string, url = `${this.server.url}/update.bin`, image = this.update): Offer {
    return {
      backend: "scripted",
      id,
      version: NEW,
      size: image.length,
      source: { kind: "http", url },
      hashes: { sha256: createHash("sha256").update(image).digest("hex") },
      context: {},
    };
  }

  /** Serves another build of the same version as `name`, and gives its offer. */
  rebuilt(id: string, name: string, seed: number): Offer {
    const image = buildAppImage({ version: NEW, size: this.update.length, seed });
    fs.writeFileSync(path.join(this.dir, name), image);
    return this.offer(id, `${this.server.url}/${name}`, image);
  }

  /** SHA-256 of the running slot ota_0, which no scenario may write. */
  runningSlot(): string {
    const flash = FlashFile.open(this.flashPath);
    try {
      const ota0 = defaultLayout(flash.size).find((p) => p.label === "ota_0")!;
      return createHash("sha256").update(flash.read(ota0.offset, ota0.size)).digest("hex");
    } finally {
      flash.close();
    }
  }

  /** Runs one update from a fresh flash until the cloud's final report (or `until`). */
  async run(options: {
    offer: Offer;
    fault?: Fault;
    agent?: Partial<AgentConfig>;
    timeoutMs: number;
    /** Continue on the flash of the previous run (a reboot), instead of a fresh one. */
    keepFlash?: boolean;
    /** Sees every event; returning true powers the board off. */
    onEvent?: (run: BoardRun["events"][number], cloud: ScriptedCloud) => boolean | void;
  }): Promise<{ run: BoardRun; cloud: ScriptedCloud; result: HoleResult }> {
    if (!options.keepFlash) fs.copyFileSync(this.template, this.flashPath);
    const before = this.runningSlot();
    this.server.requests.length = 0;
    this.server.setFault(options.fault);
    const cloud = new ScriptedCloud();
    cloud.offer = options.offer;
    const started = Date.now();
    const run = await runBoard({
      flashPath: this.flashPath,
      cloud: () => cloud.backend(),
      agent: { httpReadTimeoutMs: 2000, maxAttempts: 4, ...options.agent },
      until: (event) =>
        options.onEvent?.(event, cloud) === true ||
        (event.event === "report" &&
          ["succeeded", "failed", "rejected", "current"].includes(event.status)),
      timeoutMs: options.timeoutMs,
    });
    this.server.setFault(undefined);
    const last: Report | undefined = cloud.reports[cloud.reports.length - 1];
    const outcome = !last
      ? "none"
      : last.failure
        ? `${last.status}: ${last.failure.code}`
        : last.status;
    const violations: string[] = [];
    if (run.bricked) violations.push(`bricked: ${run.bricked}`);
    if (!options.keepFlash && this.runningSlot() !== before)
      violations.push("the running slot ota_0 was written");
    return {
      run,
      cloud,
      result: {
        outcome,
        violations,
        requests: this.server.requests.length,
        ms: Date.now() - started,
      },
    };
  }

  async close(): Promise<void> {
    await this.server.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** 2: a server that sends a byte every `intervalMs` is dropped for its rate, then the budget ends it. */
export async function trickle(bench: HoleBench, intervalMs = 100): Promise<HoleResult> {
  const { run, result } = await bench.run({
    offer: bench.offer("trickle"),
    fault: { kind: "trickle", intervalMs },
    agent: {
      minRateBytesPerSecond: 1000,
      minRateWindowMs: 1000,
      downloadBudgetMs: 4000,
      backoff: { baseMs: 5, maxMs: 20 },
    },
    timeoutMs: 15_000,
  });
  if (run.timedOut) result.violations.push("no final report within 15 s");
  if (result.outcome !== "failed: too-slow" && result.outcome !== "failed: budget-exceeded")
    result.violations.push(`expected failed: too-slow or budget-exceeded, got ${result.outcome}`);
  if (result.ms > 8000) result.violations.push(`took ${result.ms} ms, past the 4 s budget`);
  return result;
}

/** 3: the cloud cancels while the agent waits 30 s to retry a 503: the wait ends at once. */
export async function cancelInRetryWait(bench: HoleBench): Promise<HoleResult> {
  let cancelledAt = 0;
  let idleAt = 0;
  const { run, cloud, result } = await bench.run({
    offer: bench.offer("cancel-in-wait"),
    fault: { kind: "status", status: 503, retryAfter: "30" },
    agent: { backoff: { baseMs: 5, maxMs: 60_000 } },
    timeoutMs: 8000,
    onEvent: (event, c) => {
      if (event.event === "log" && /transfer interrupted/.test(event.message) && !cancelledAt) {
        cancelledAt = Date.now();
        setTimeout(() => c.cancel("cancel-in-wait"), 50);
      }
      if (event.event === "state" && event.to === "idle" && cancelledAt && !idleAt) {
        idleAt = Date.now();
        return true;
      }
    },
  });
  result.outcome = idleAt ? `idle ${idleAt - cancelledAt} ms after the cancel` : "still waiting";
  if (!idleAt) result.violations.push("the agent did not stop waiting within 8 s of the cancel");
  else if (idleAt - cancelledAt > 1500)
    result.violations.push(`the agent went idle ${idleAt - cancelledAt} ms after the cancel`);
  if (cloud.reports.some((r) => r.status === "failed"))
    result.violations.push("a failed report was sent on the cancelled update");
  if (result.requests > 1) result.violations.push(`${result.requests} requests after the cancel`);
  if (run.timedOut && !idleAt) result.violations.push("timed out");
  return result;
}

/** 4: failures no retry cures end at the first attempt, with their own code. */
export async function permanentFailure(
  bench: HoleBench,
  kind: "tls-untrusted" | "huge-headers",
): Promise<HoleResult> {
  const { run, result } = await bench.run({
    offer: bench.offer(kind),
    fault: kind === "huge-headers" ? { kind: "huge-headers" } : undefined,
    // Long backoff: a retry would show as a wait, and a slow end.
    agent: { backoff: { baseMs: 5000, maxMs: 10_000 }, maxAttempts: 8 },
    timeoutMs: 20_000,
  });
  const expected = kind === "huge-headers" ? "failed: http-protocol" : "failed: tls-untrusted";
  if (result.outcome !== expected)
    result.violations.push(`expected ${expected}, got ${result.outcome}`);
  const retries = run.events.filter(
    (e) => e.event === "log" && /transfer interrupted/.test(e.message),
  ).length;
  if (retries > 0) result.violations.push(`retried ${retries} times`);
  if (result.ms > 4000) result.violations.push(`took ${result.ms} ms`);
  return result;
}

/** 7: an image URL with a user name, password and presigned query leaves no trace on flash. */
export async function credentialsInUrl(bench: HoleBench): Promise<HoleResult> {
  const secrets = ["s3cret-pass", "s3cret-token"];
  const base = new URL(bench.server.url);
  const url = `${base.protocol}//fw-user:${secrets[0]}@${base.host}/update.bin?X-Token=${secrets[1]}`;
  const found: string[] = [];
  const scan = (when: string) => {
    const bytes = fs.readFileSync(bench.flashPath);
    for (const secret of secrets)
      if (bytes.includes(Buffer.from(secret))) found.push(`${secret} on flash ${when}`);
  };
  const { result } = await bench.run({
    offer: bench.offer("credentials", url),
    // A cut in the middle leaves the journal and, after staging, the update record on flash.
    fault: { kind: "short-body", bytes: 30_000, times: 1 },
    timeoutMs: 20_000,
    onEvent: (event) => {
      if (event.event === "report" && ["downloading", "updating", "testing"].includes(event.status))
        scan(`at "${event.status}"`);
    },
  });
  scan("after the update");
  if (result.outcome !== "succeeded") result.violations.push(`got ${result.outcome}`);
  for (const f of found) if (result.violations.indexOf(f) < 0) result.violations.push(f);
  return result;
}

/**
 * 5: the device runs 1.1.0, installed from one image; the cloud offers 1.1.0 with another image
 * (a new AWS job, or a second Tencent update_firmware of the same version). It is another update:
 * installed, not answered "already running". Offered again, the image it now runs is current.
 */
export async function sameVersionOtherImage(
  bench: HoleBench,
  sameId: boolean,
  seed: number,
): Promise<HoleResult> {
  const first = await bench.run({ offer: bench.offer("v110"), timeoutMs: 20_000 });
  const other = bench.rebuilt(sameId ? "v110" : "v110-rebuilt", `rebuilt-${seed}.bin`, seed);
  const second = await bench.run({ offer: other, keepFlash: true, timeoutMs: 20_000 });
  const again = await bench.run({ offer: other, keepFlash: true, timeoutMs: 20_000 });
  const result = second.result;
  result.violations.push(...first.result.violations, ...again.result.violations);
  if (first.result.outcome !== "succeeded")
    result.violations.push(`the first image: ${first.result.outcome}`);
  if (second.result.outcome !== "succeeded")
    result.violations.push(`the other image of 1.1.0: ${second.result.outcome}, not installed`);
  if (again.result.outcome !== "current")
    result.violations.push(`offered again: ${again.result.outcome}, not current`);
  result.outcome = [first, second, again].map((r) => r.result.outcome).join(", ");
  return result;
}
