// The in-process power cut checked against the real thing: the CLI device (`otaflow device`) is
// a separate process that SIGKILLs itself before flash operation N (OTAFLOW_POWER_CUT_AT), and
// the same command line restarts it on the same flash file, against the local AWS cloud.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FlashFile } from "../../hosts/node/flash";
import type { Backend } from "../../src/core/backend";
import { startLocalCloud } from "../clouds/local";
import { buildAppImage } from "../image/build";
import { runBoard } from "./board";
import { pick, seeded } from "./random";

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "otaflow.mjs");

export interface SigkillRun {
  cutAt: number;
  killed: boolean;
  runs: "old" | "new" | "none";
  cloudStatus: string;
  violations: string[];
}

export interface SigkillSummary {
  runs: SigkillRun[];
  seed: number;
  outcomes: Record<string, number>;
  violations: string[];
}

const idle: Backend = {
  name: "idle",
  start: async (listener) => listener.connected(),
  report: async () => {},
  stop: async () => {},
};

/** Runs the CLI device until it exits (killed) or `stop` resolves (then SIGTERM). */
function device(args: string[], env: Record<string, string>, stop: Promise<unknown>) {
  const child = spawn(process.execPath, [CLI, "device", ...args, "--json"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.resume();
  child.stderr.resume();
  void stop.then(() => child.kill("SIGTERM"));
  return new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
}

export async function sigkillCuts(options: {
  runs: number;
  seed: number;
  operations: number;
}): Promise<SigkillSummary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-sigkill-"));
  const local = await startLocalCloud("aws");
  const random = seeded(options.seed);
  const summary: SigkillSummary = { runs: [], seed: options.seed, outcomes: {}, violations: [] };
  try {
    const target = { thing: "sigkill-thing" };
    const updateFile = path.join(dir, "update.bin");
    fs.writeFileSync(updateFile, buildAppImage({ version: "1.1.0", size: 256 * 1024, seed: 8 }));
    const factory = path.join(dir, "factory.bin");
    fs.writeFileSync(factory, buildAppImage({ version: "1.0.0", size: 32 * 1024 }));
    const flashPath = path.join(dir, "device.flash");
    const args = [
      "--backend",
      "aws",
      "--broker",
      local.brokerUrl,
      "--thing",
      target.thing,
      "--flash",
      flashPath,
      "--factory",
      factory,
      "--insecure-plaintext",
    ];
    for (let i = 0; i < options.runs; i++) {
      fs.rmSync(flashPath, { force: true });
      FlashFile.create(flashPath, { factoryImage: fs.readFileSync(factory) }).close();
      const cutAt = pick(random, options.operations);
      await local.deploy(updateFile, target);
      const outcome = local.outcome(target, 60_000);
      outcome.catch(() => {});
      const violations: string[] = [];
      const signal = await device(args, { OTAFLOW_POWER_CUT_AT: String(cutAt) }, outcome);
      const killed = signal === "SIGKILL";
      if (killed) await device(args, {}, outcome);
      const ended = await outcome.catch((e: unknown) => ({
        succeeded: false,
        status: `none: ${String(e)}`,
      }));
      const after = await runBoard({
        flashPath,
        cloud: () => idle,
        until: (e) => e.event === "boot",
        timeoutMs: 10_000,
      });
      const boot = after.events.find((e) => e.event === "boot");
      let runs: SigkillRun["runs"] = "none";
      if (after.bricked) violations.push(`bricked: ${after.bricked}`);
      if (boot?.event === "boot") {
        runs = boot.version === "1.1.0" ? "new" : "old";
        if (runs === "new" && boot.state !== "valid")
          violations.push(`runs 1.1.0 in state ${boot.state}`);
      }
      if (ended.succeeded !== (runs === "new"))
        violations.push(`runs the ${runs} image but the cloud says ${ended.status}`);
      const run = { cutAt, killed, runs, cloudStatus: ended.status, violations };
      summary.runs.push(run);
      const key = `${killed ? "killed" : "not reached"}; ${runs} image, cloud ${ended.status.split(":")[0]}`;
      summary.outcomes[key] = (summary.outcomes[key] ?? 0) + 1;
      for (const v of violations) summary.violations.push(`cut at ${cutAt}: ${v}`);
    }
    return summary;
  } finally {
    await local.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
