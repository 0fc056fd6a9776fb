// Power cuts at every flash erase and write of one update, exhaustively: for each operation N of
// the update's flash traffic (download, journal, verification, otadata switch, first boot,
// self-test, confirm), cut the power before N (and, torn, halfway through N), reboot on the same
// flash, and check what the board and the cloud end up with.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import type { Offer, Report } from "../../src/core/offer";
import type { DeviceEvent } from "../../hosts/node/device";
import { FlashFile } from "../../hosts/node/flash";
import { defaultLayout } from "../../hosts/node/partitions";
import { buildAppImage } from "../image/build";
import { startFirmwareServer, type FirmwareServer } from "../fwserver/index";
import { ScriptedCloud } from "../../test/support/scripted-cloud";
import { checkResume, runBoard, slotProgress, type PowerCut } from "./board";

export interface PowerCutOptions {
  /** Size of the update image (small keeps the sweep fast). */
  imageSize: number;
  journalIntervalBytes: number;
  /** Also tear each operation halfway. */
  torn: boolean;
  /** Cut only every `stride`-th operation (1 = every one). */
  stride?: number;
  /** Called after each cut point, for progress lines. */
  onCase?: (result: CutResult) => void;
}

export interface CutResult {
  cut: PowerCut;
  phase: string;
  kind: string;
  /** What ran after the reboot and a second boot: "old" or "new". */
  runs: "old" | "new";
  finalStatus: string;
  failureCode?: string;
  /** Bytes of the image fetched again after the cut (undefined: the cut was not mid-download). */
  refetched?: number;
  violations: string[];
}

export interface PowerCutSummary {
  /** Flash operations of an uninterrupted update (the sweep covers 0..total-1). */
  totalOperations: number;
  cases: CutResult[];
  violations: string[];
  byPhase: Record<string, number>;
  outcomes: Record<string, number>;
  maxRefetched: number;
  journalIntervalBytes: number;
  imageSize: number;
}

const OLD = "1.0.0";
const NEW = "1.1.0";
const FINAL = ["succeeded", "failed", "rejected", "current"];

function isFinal(event: DeviceEvent): boolean {
  return event.event === "report" && event.delivered && FINAL.includes(event.status);
}

export async function powerCutSweep(options: PowerCutOptions): Promise<PowerCutSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-powercut-"));
  const server: FirmwareServer = await startFirmwareServer({ root: dir });
  try {
    return await sweep(dir, server, options);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function sweep(
  dir: string,
  server: FirmwareServer,
  options: PowerCutOptions,
): Promise<PowerCutSummary> {
  const factory = buildAppImage({ version: OLD, size: 32 * 1024 });
  const update = buildAppImage({ version: NEW, size: options.imageSize, seed: 11 });
  fs.writeFileSync(path.join(dir, "update.bin"), update);
  const template = path.join(dir, "template.flash");
  FlashFile.create(template, { factoryImage: factory }).close();
  const flashPath = path.join(dir, "device.flash");
  const ota1 = defaultLayout(fs.statSync(template).size).find((p) => p.label === "ota_1")!;
  const offer: Offer = {
    backend: "scripted",
    id: "job-powercut",
    version: NEW,
    size: update.length,
    source: { kind: "http", url: `${server.url}/update.bin` },
    hashes: { sha256: createHash("sha256").update(update).digest("hex") },
    context: {},
  };
  const agent = { journalIntervalBytes: options.journalIntervalBytes };

  const attempt = async (cut: PowerCut | undefined) => {
    fs.copyFileSync(template, flashPath);
    server.requests.length = 0;
    const cloud = new ScriptedCloud();
    cloud.offer = offer;
    const first = await runBoard({
      flashPath,
      cloud: () => cloud.backend(),
      agent,
      cut,
      until: isFinal,
      timeoutMs: 20_000,
    });
    return { cloud, first };
  };

  const clean = await attempt(undefined);
  if (clean.first.bricked || clean.first.timedOut || cloud0Status(clean.cloud) !== "succeeded")
    throw new Error(`the update without power cuts did not succeed: ${cloud0Status(clean.cloud)}`);
  const totalOperations = clean.first.operations.length;

  const cases: CutResult[] = [];
  const stride = options.stride ?? 1;
  for (let at = 0; at < totalOperations; at += stride) {
    for (const torn of options.torn ? [false, true] : [false]) {
      const cut = { at, torn };
      const { cloud, first } = await attempt(cut);
      const result = await afterCut(cut, cloud, first, flashPath, agent, server, ota1.offset);
      cases.push(result);
      options.onCase?.(result);
    }
  }

  const byPhase: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  let maxRefetched = 0;
  const violations: string[] = [];
  for (const c of cases) {
    byPhase[c.phase] = (byPhase[c.phase] ?? 0) + 1;
    const outcome = `${c.runs} image, cloud ${c.finalStatus}${c.failureCode ? ` (${c.failureCode})` : ""}`;
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (c.refetched !== undefined) maxRefetched = Math.max(maxRefetched, c.refetched);
    for (const v of c.violations)
      violations.push(`cut before op ${c.cut.at}${c.cut.torn ? " (torn)" : ""}: ${v}`);
  }
  return {
    totalOperations,
    cases,
    violations,
    byPhase,
    outcomes,
    maxRefetched,
    journalIntervalBytes: options.journalIntervalBytes,
    imageSize: options.imageSize,
  };
}

function finalReport(reports: Report[]): Report | undefined {
  for (let i = reports.length - 1; i >= 0; i--)
    if (FINAL.includes(reports[i].status)) return reports[i];
  return undefined;
}

function cloud0Status(cloud: ScriptedCloud): string {
  return finalReport(cloud.reports)?.status ?? "none";
}

async function afterCut(
  cut: PowerCut,
  cloud: ScriptedCloud,
  first: Awaited<ReturnType<typeof runBoard>>,
  flashPath: string,
  agent: { journalIntervalBytes: number },
  server: FirmwareServer,
  slotOffset: number,
): Promise<CutResult> {
  const violations: string[] = [];
  if (first.bricked) violations.push(`failed before the cut: ${first.bricked}`);
  const phase = first.cut?.phase ?? "after the update";
  const progress = slotProgress(first.operations, cut.at, slotOffset);
  const getsBefore = server.requests.length;

  // Power is back: run until the cloud has its final word (it may have had it before the cut).
  const alreadyFinal = finalReport(cloud.reports) !== undefined;
  const second = await runBoard({
    flashPath,
    cloud: () => cloud.backend(),
    agent,
    until: (event) =>
      isFinal(event) || (alreadyFinal && event.event === "state" && event.to === "idle"),
    timeoutMs: 20_000,
  });
  if (second.bricked) violations.push(`bricked after the cut: ${second.bricked}`);
  if (second.timedOut) violations.push("no final state within 20 s after the cut");
  // And once more: what the board runs from now on.
  const third = await runBoard({
    flashPath,
    cloud: () => cloud.backend(),
    agent,
    until: (event) => event.event === "boot",
    timeoutMs: 20_000,
  });
  if (third.bricked) violations.push(`bricked on the next boot: ${third.bricked}`);
  const boot = third.events.find((e) => e.event === "boot");
  let runs: "old" | "new" = "old";
  if (boot?.event === "boot") {
    if (boot.version === NEW) {
      runs = "new";
      if (boot.state !== "valid")
        violations.push(`runs ${NEW} in state ${boot.state}, not confirmed`);
    } else if (boot.version !== OLD) violations.push(`runs unexpected version ${boot.version}`);
  } else violations.push("no boot after the reboot");

  const last = finalReport(cloud.reports);
  const finalStatus = last?.status ?? "none";
  if (runs === "new" && finalStatus !== "succeeded")
    violations.push(`runs the new image but the cloud says ${finalStatus}`);
  if (runs === "old" && finalStatus !== "failed")
    violations.push(`runs the old image but the cloud says ${finalStatus}`);
  if (runs === "old" && cloud.reports.some((r) => r.status === "succeeded"))
    violations.push("the cloud was told succeeded but the old image runs");
  if (finalStatus === "failed" && !last?.failure?.code)
    violations.push("failed without a reason code");

  let refetched: number | undefined;
  const resumed = server.requests.slice(getsBefore).find((r) => r.path === "/update.bin");
  if (first.cut && phase.startsWith("boot 1: downloading") && resumed) {
    const checked = checkResume(progress, resumed.range, agent.journalIntervalBytes);
    refetched = checked.refetched;
    if (checked.violation) violations.push(checked.violation);
  }
  return {
    cut,
    phase,
    kind: first.cut?.kind ?? "none",
    runs,
    finalStatus,
    failureCode: last?.failure?.code,
    refetched,
    violations,
  };
}
