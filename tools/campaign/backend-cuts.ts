// Power cuts at random flash operations while a real local cloud (AWS IoT Jobs, ThingsBoard,
// Tencent) drives the update over MQTT: after the reboot the board runs the old image or the new
// confirmed one, and the cloud's own final status says exactly that.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FlashFile } from "../../hosts/node/flash";
import type { DeviceCloud } from "../../hosts/node/device";
import { startLocalCloud, type LocalBackend, type LocalTarget } from "../clouds/local";
import { deviceCloud } from "../commands/backends";
import { buildAppImage } from "../image/build";
import { defaultLayout } from "../../hosts/node/partitions";
import { checkResume, runBoard, slotProgress, type PowerCut } from "./board";
import { pick, seeded } from "./random";

export interface BackendCutOptions {
  backend: LocalBackend;
  runs: number;
  seed: number;
  imageSize: number;
  onRun?: (result: BackendCutResult) => void;
}

export interface BackendCutResult {
  cut: PowerCut;
  phase: string;
  runs: "old" | "new";
  /** Image bytes fetched again after a cut mid-download (HTTP backends). */
  refetched?: number;
  cloudStatus: string;
  violations: string[];
}

export interface BackendCutSummary {
  backend: LocalBackend;
  seed: number;
  runs: number;
  /** Flash operations of the update without a cut (cut points are drawn below it). */
  totalOperations: number;
  outcomes: Record<string, number>;
  phases: Record<string, number>;
  /** Resumed downloads checked against the firmware server's log, and the most bytes fetched again. */
  resumes: number;
  maxRefetched: number;
  journalIntervalBytes: number;
  violations: string[];
}

const OLD = "1.0.0";
const NEW = "1.1.0";
const OUTCOME_TIMEOUT_MS = 30_000;
const JOURNAL_INTERVAL = 16 * 1024;
const agent = { journalIntervalBytes: JOURNAL_INTERVAL };

export async function backendPowerCuts(options: BackendCutOptions): Promise<BackendCutSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-cuts-"));
  const local = await startLocalCloud(options.backend);
  try {
    const target: LocalTarget = {
      thing: "cut-thing",
      token: "cut-token",
      product: "CUTPROD01",
      device: "cut-dev",
    };
    const { secret } = local.register(target);
    const cloud: DeviceCloud = deviceCloud(
      {
        backend: options.backend,
        broker: local.brokerUrl,
        "insecure-plaintext": true,
        thing: target.thing,
        token: target.token,
        product: target.product,
        device: target.device,
        secret,
      },
      {},
      "",
    );
    const updateFile = path.join(dir, "update.bin");
    fs.writeFileSync(updateFile, buildAppImage({ version: NEW, size: options.imageSize, seed: 7 }));
    const template = path.join(dir, "template.flash");
    FlashFile.create(template, {
      factoryImage: buildAppImage({ version: OLD, size: 32 * 1024 }),
    }).close();
    const flashPath = path.join(dir, "device.flash");
    const slotOffset = defaultLayout(fs.statSync(template).size).find(
      (p) => p.label === "ota_1",
    )!.offset;

    const attempt = async (cut: PowerCut | undefined) => {
      fs.copyFileSync(template, flashPath);
      await local.deploy(updateFile, target);
      const outcome = local.outcome(target, OUTCOME_TIMEOUT_MS);
      outcome.catch(() => {});
      const first = await runBoard({
        flashPath,
        cloud,
        agent,
        cut,
        stop: outcome,
        timeoutMs: OUTCOME_TIMEOUT_MS,
      });
      return { first, outcome };
    };

    const clean = await attempt(undefined);
    const cleanOutcome = await clean.outcome;
    if (!cleanOutcome.succeeded)
      throw new Error(`${options.backend}: the update without cuts ended ${cleanOutcome.status}`);
    const totalOperations = clean.first.operations.length;

    const random = seeded(options.seed);
    const summary: BackendCutSummary = {
      backend: options.backend,
      seed: options.seed,
      runs: options.runs,
      totalOperations,
      outcomes: {},
      phases: {},
      resumes: 0,
      maxRefetched: 0,
      journalIntervalBytes: JOURNAL_INTERVAL,
      violations: [],
    };
    for (let i = 0; i < options.runs; i++) {
      const cut = { at: pick(random, totalOperations), torn: random() < 0.5 };
      const { first, outcome } = await attempt(cut);
      const violations: string[] = [];
      if (first.bricked) violations.push(`failed before the cut: ${first.bricked}`);
      const requestsBefore = local.firmwareRequests().length;
      // Power is back: the board runs until the cloud has its final word.
      const second = await runBoard({
        flashPath,
        cloud,
        agent,
        stop: outcome,
        timeoutMs: OUTCOME_TIMEOUT_MS,
      });
      if (second.bricked) violations.push(`bricked after the cut: ${second.bricked}`);
      const ended = await outcome.catch((error: unknown) => ({
        succeeded: false,
        status: `no final status: ${String(error)}`,
      }));
      const third = await runBoard({
        flashPath,
        cloud,
        until: (e) => e.event === "boot",
        timeoutMs: OUTCOME_TIMEOUT_MS,
      });
      if (third.bricked) violations.push(`bricked on the next boot: ${third.bricked}`);
      const boot = third.events.find((e) => e.event === "boot");
      let runs: "old" | "new" = "old";
      if (boot?.event !== "boot") violations.push("no boot");
      else if (boot.version === NEW) {
        runs = "new";
        if (boot.state !== "valid") violations.push(`runs ${NEW} in state ${boot.state}`);
      } else if (boot.version !== OLD) violations.push(`runs ${boot.version}`);
      if (ended.succeeded !== (runs === "new"))
        violations.push(`runs the ${runs} image but the cloud says ${ended.status}`);
      const resumed = local
        .firmwareRequests()
        .slice(requestsBefore)
        .find((r) => r.method === "GET");
      let refetched: number | undefined;
      if (first.cut?.phase.startsWith("boot 1: downloading") && resumed) {
        const checked = checkResume(
          slotProgress(first.operations, cut.at, slotOffset),
          resumed.range,
          JOURNAL_INTERVAL,
        );
        refetched = checked.refetched;
        if (checked.violation) violations.push(checked.violation);
        summary.resumes++;
        summary.maxRefetched = Math.max(summary.maxRefetched, refetched);
      }
      const result: BackendCutResult = {
        cut,
        refetched,
        phase: first.cut?.phase ?? "after the update",
        runs,
        cloudStatus: ended.status,
        violations,
      };
      summary.phases[result.phase] = (summary.phases[result.phase] ?? 0) + 1;
      const key = `${runs} image, cloud ${ended.succeeded ? ended.status : ended.status.split(":")[0]}`;
      summary.outcomes[key] = (summary.outcomes[key] ?? 0) + 1;
      for (const v of violations)
        summary.violations.push(
          `run ${i} (cut before op ${cut.at}${cut.torn ? ", torn" : ""}): ${v}`,
        );
      options.onRun?.(result);
    }
    return summary;
  } finally {
    await local.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
