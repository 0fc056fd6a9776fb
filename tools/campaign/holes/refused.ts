// 9: the CLI device (its own process, as a board is its own machine) whose credentials the broker
// refuses (a ThingsBoard token the server does not know yet): it must say so, stay up, keep
// trying with backoff, and connect once the server knows the token.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { startLocalCloud } from "../../clouds/local";
import { buildAppImage } from "../../image/build";

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "otaflow.mjs");

export interface RefusedResult {
  outcome: string;
  violations: string[];
  /** Connection attempts refused before the token was registered. */
  refusals: number;
  ms: number;
}

/** Runs the device with an unknown token until refused twice (at most `refusedMs`), then registers it. */
export async function refusedCredentials(refusedMs = 15_000): Promise<RefusedResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-refused-"));
  const local = await startLocalCloud("thingsboard");
  const started = Date.now();
  const violations: string[] = [];
  const token = `unknown-${Math.floor(Math.random() * 1e9)}`;
  const factory = path.join(dir, "factory.bin");
  fs.writeFileSync(factory, buildAppImage({ version: "1.0.0", size: 32 * 1024 }));
  const lines: Record<string, unknown>[] = [];
  const child = spawn(
    process.execPath,
    [
      CLI,
      "device",
      "--backend",
      "thingsboard",
      "--broker",
      local.brokerUrl,
      "--token",
      token,
      "--flash",
      path.join(dir, "device.flash"),
      "--factory",
      factory,
      "--insecure-plaintext",
      "--json",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let exited: number | string | undefined;
  child.on("exit", (code, signal) => (exited = code ?? signal ?? "exit"));
  let buffered = "";
  child.stdout.on("data", (data: Buffer) => {
    buffered += data.toString();
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ event: "text", line });
      }
    }
  });
  child.stderr.resume();
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const refusals = () =>
    lines.filter((l) => /refused the device's credentials/.test(String(l.message ?? ""))).length;
  try {
    // Two refusals in a row: the device keeps trying after the first.
    const until = Date.now() + refusedMs;
    while (refusals() < 2 && Date.now() < until && exited === undefined) await wait(100);
    if (exited !== undefined) violations.push(`the device process exited (${exited})`);
    const refused = refusals();
    if (refused === 0) violations.push("no message says the broker refused the credentials");
    else if (refused < 2) violations.push("the device did not try again after a refusal");
    local.register({ token });
    // Once the server knows the token, the device connects on its next attempt and updates.
    const update = path.join(dir, "update.bin");
    fs.writeFileSync(update, buildAppImage({ version: "1.1.0", size: 64 * 1024, seed: 9 }));
    await local.deploy(update, { token });
    const outcome = await local
      .outcome({ token }, 30_000)
      .catch((error: unknown) => ({ succeeded: false, status: String(error) }));
    if (!outcome.succeeded) violations.push(`after the token was registered: ${outcome.status}`);
    return {
      outcome: `${refused} refusals, then ${outcome.status}`,
      violations,
      refusals: refused,
      ms: Date.now() - started,
    };
  } finally {
    child.kill("SIGTERM");
    if (exited === undefined) await new Promise((resolve) => child.on("exit", resolve));
    await local.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
