// Network chaos: the device reaches the broker and the firmware server only through fault-injecting
// proxies (drops, resets and truncation mid-body, stalls, slow trickles, broker outages). Each
// seeded run must reach a final state within a bound, and the cloud's status must name the image
// that runs.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Backend } from "../../src/core/backend";
import type { DeviceCloud } from "../../hosts/node/device";
import { FlashFile } from "../../hosts/node/flash";
import { startLocalCloud, type LocalBackend, type LocalTarget } from "../clouds/local";
import { deviceCloud } from "../commands/backends";
import { buildAppImage } from "../image/build";
import { runBoard } from "./board";
import { startChaosProxy, type ConnectionFault } from "./chaos-proxy";
import { pick, seeded } from "./random";

export interface ChaosOptions {
  backend: LocalBackend;
  runs: number;
  seed: number;
  imageSize: number;
  /** A run that has no final state by then counts as hung. */
  boundMs: number;
  onRun?: (run: ChaosRun) => void;
}

export interface ChaosRun {
  index: number;
  outcome: string;
  runs: "old" | "new" | "none";
  ms: number;
  faults: Record<string, number>;
  outage: boolean;
  violations: string[];
}

export interface ChaosSummary {
  backend: LocalBackend;
  seed: number;
  runs: ChaosRun[];
  outcomes: Record<string, number>;
  /** The cloud's full words for every run that did not succeed. */
  failures: Record<string, number>;
  faults: Record<string, number>;
  outages: number;
  maxMs: number;
  medianMs: number;
  violations: string[];
}

const OLD = "1.0.0";
const NEW = "1.1.0";

function planner(random: () => number): () => ConnectionFault {
  return () => {
    if (random() < 0.45) return { kind: "none" };
    const bytes = pick(random, 150_000);
    switch (pick(random, 5)) {
      case 0:
        return { kind: "drop" };
      case 1:
        return { kind: "reset", bytes };
      case 2:
        return { kind: "truncate", bytes };
      case 3:
        return { kind: "stall", bytes, ms: 200 + pick(random, 2800) };
      default:
        return { kind: "trickle", piece: 64 + pick(random, 960), everyMs: 2 + pick(random, 8) };
    }
  };
}

/** The offer's firmware URL as seen through the HTTP proxy (as a faulty middlebox would carry it). */
function throughProxy(cloud: DeviceCloud, from: string, to: string): DeviceCloud {
  return {
    ...cloud,
    createBackend(deps) {
      const inner: Backend = cloud.createBackend(deps);
      return {
        ...inner,
        start: (listener) =>
          inner.start({
            ...listener,
            offer: (offer) =>
              listener.offer(
                offer.source.kind === "http" && offer.source.url.startsWith(from)
                  ? {
                      ...offer,
                      source: { ...offer.source, url: to + offer.source.url.slice(from.length) },
                    }
                  : offer,
              ),
          }),
        report: (report) => inner.report(report),
        stop: () => inner.stop(),
        source: inner.source && ((offer) => inner.source!(offer)),
      };
    },
  };
}

export async function networkChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-chaos-"));
  const local = await startLocalCloud(options.backend);
  const random = seeded(options.seed);
  const summary: ChaosSummary = {
    backend: options.backend,
    seed: options.seed,
    runs: [],
    outcomes: {},
    failures: {},
    faults: {},
    outages: 0,
    maxMs: 0,
    medianMs: 0,
    violations: [],
  };
  try {
    const target: LocalTarget = {
      thing: "chaos-thing",
      token: "chaos-token",
      product: "CHAOSPROD1",
      device: "chaos-dev",
    };
    const { secret } = local.register(target);
    const updateFile = path.join(dir, "update.bin");
    fs.writeFileSync(updateFile, buildAppImage({ version: NEW, size: options.imageSize, seed: 5 }));
    const template = path.join(dir, "template.flash");
    FlashFile.create(template, {
      factoryImage: buildAppImage({ version: OLD, size: 32 * 1024 }),
    }).close();
    const flashPath = path.join(dir, "device.flash");
    const broker = new URL(local.brokerUrl);
    const firmware = new URL(local.firmwareUrl);

    for (let index = 0; index < options.runs; index++) {
      const plan = planner(random);
      const mqttProxy = await startChaosProxy(
        { host: broker.hostname, port: Number(broker.port) },
        plan,
      );
      const httpProxy = await startChaosProxy(
        { host: firmware.hostname, port: Number(firmware.port) },
        plan,
      );
      const outageAt = random() < 0.5 ? 100 + pick(random, 900) : undefined;
      const outageMs = 300 + pick(random, 1500);
      const cloud = throughProxy(
        deviceCloud(
          {
            backend: options.backend,
            broker: mqttProxy.url("mqtt"),
            "insecure-plaintext": true,
            thing: target.thing,
            token: target.token,
            product: target.product,
            device: target.device,
            secret,
          },
          {},
          "",
        ),
        local.firmwareUrl,
        httpProxy.url("http"),
      );
      fs.copyFileSync(template, flashPath);
      const started = Date.now();
      await local.deploy(updateFile, target);
      const outcome = local.outcome(target, options.boundMs);
      outcome.catch(() => {});
      const outage =
        outageAt === undefined ? undefined : setTimeout(() => mqttProxy.outage(outageMs), outageAt);
      // The self-test waits for the cloud; 15 s lets it ride out an outage (the default is 60 s).
      const agent = {
        selfTestTimeoutMs: 15_000,
        httpReadTimeoutMs: 2000,
        maxAttempts: 30,
        backoff: { baseMs: 50, maxMs: 500 },
      };
      const violations: string[] = [];
      const first = await runBoard({
        flashPath,
        cloud,
        agent,
        stop: outcome,
        timeoutMs: options.boundMs,
      });
      clearTimeout(outage);
      const ms = Date.now() - started;
      const ended = await outcome.catch((error: unknown) => ({
        succeeded: false,
        status: `none: ${String(error)}`,
      }));
      if (first.bricked) violations.push(`bricked: ${first.bricked}`);
      if (first.timedOut) violations.push(`no final state within ${options.boundMs} ms`);
      await mqttProxy.close();
      await httpProxy.close();
      // What the board runs from now on (no chaos, no cloud needed to boot).
      const after = await runBoard({
        flashPath,
        cloud: () => idleBackend,
        until: (e) => e.event === "boot",
        timeoutMs: 10_000,
      });
      const boot = after.events.find((e) => e.event === "boot");
      let runs: ChaosRun["runs"] = "none";
      if (boot?.event === "boot") {
        runs = boot.version === NEW ? "new" : "old";
        if (runs === "new" && boot.state !== "valid")
          violations.push(`runs ${NEW} in state ${boot.state}`);
      } else violations.push("no boot");
      if (!first.timedOut && ended.succeeded !== (runs === "new"))
        violations.push(`runs the ${runs} image but the cloud says ${ended.status}`);
      const faults: Record<string, number> = {};
      for (const [k, v] of Object.entries(mqttProxy.dealt).concat(
        Object.entries(httpProxy.dealt),
      )) {
        faults[k] = (faults[k] ?? 0) + v;
        summary.faults[k] = (summary.faults[k] ?? 0) + v;
      }
      if (outageAt !== undefined && outageAt < ms) summary.outages++;
      const run: ChaosRun = {
        index,
        outcome: ended.succeeded ? ended.status : ended.status.split(":")[0],
        runs,
        ms,
        faults,
        outage: outageAt !== undefined && outageAt < ms,
        violations,
      };
      summary.runs.push(run);
      summary.outcomes[run.outcome] = (summary.outcomes[run.outcome] ?? 0) + 1;
      if (!ended.succeeded) {
        const reason = ended.status.replace(/[0-9a-f]{8,}|\d+(\.\d+)?/g, "N");
        summary.failures[reason] = (summary.failures[reason] ?? 0) + 1;
      }
      for (const v of violations) summary.violations.push(`run ${index}: ${v}`);
      options.onRun?.(run);
    }
    const times = summary.runs.map((r) => r.ms).sort((a, b) => a - b);
    summary.maxMs = times[times.length - 1] ?? 0;
    summary.medianMs = times[Math.floor(times.length / 2)] ?? 0;
    return summary;
  } finally {
    await local.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A cloud with nothing to say, for boots that only look at what runs. */
const idleBackend: Backend = {
  name: "idle",
  start: async (listener) => listener.connected(),
  report: async () => {},
  stop: async () => {},
};
