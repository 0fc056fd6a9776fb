// The Node side of the XS harness: bundles case modules with the in-engine runtime, starts the
// real XS engine (xsnap) and a Node vm context with the same intrinsics frozen, and runs named
// cases in either. Used by test/xs/run.ts and by the benchmarks.

import "@endo/init";
import { type XSnap, xsnap } from "@agoric/xsnap";
import * as childProcess from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as vm from "node:vm";
import * as zlib from "node:zlib";
import * as esbuild from "esbuild";
import tmp from "tmp";
import { fromHex } from "../../src/core/util/bytes";
import { buildAppImage, type AppImageOptions } from "../../tools/image/build";
import { VECTORS_IDF } from "../support/delta";
import { generateSigningKey, loadSigningKey, signAppended } from "../../tools/sign/index";
import { preloadPlugin } from "./preload";
import type { CaseStatus } from "./runtime";

const HERE = path.dirname(fileURLToPath(import.meta.url));

let appImage: Uint8Array = new Uint8Array(0);

/** Operations a case may call synchronously on the Node side with `host()` from runtime.ts. */
export const HOST_OPERATIONS: Record<string, (argument: never) => unknown> = {
  /**
   * Makes a real ESP-IDF app image with the image tool and keeps it on this side; the case reads it
   * with imageSlice. Returns its size, MD5 and SHA-256.
   */
  appImage(options: AppImageOptions): { size: number; md5: string; sha256: string } {
    appImage = buildAppImage(options);
    return {
      size: appImage.length,
      md5: createHash("md5").update(appImage).digest("hex"),
      sha256: createHash("sha256").update(appImage).digest("hex"),
    };
  },
  /**
   * Signs the last appImage in place with a Secure Boot V2 sector, by a key made here: returns the
   * signed image's size and MD5 and the key's public point (hex), which the case then trusts.
   */
  signImage(): { size: number; md5: string; publicKey: string } {
    const key = generateSigningKey();
    appImage = signAppended(appImage, loadSigningKey(key.privateKeyPem));
    return {
      size: appImage.length,
      md5: createHash("md5").update(appImage).digest("hex"),
      publicKey: key.publicKeyHex,
    };
  },
  /**
   * Makes the last appImage one of the delta vectors' files: "base" (1.0.0), "target" (1.0.1) or
   * "patch" (the esp_delta_ota patch). Returns its size and SHA-256.
   */
  deltaVector({ file }: { file: "base" | "patch" | "target" }): { size: number; sha256: string } {
    appImage =
      file === "patch"
        ? new Uint8Array(
            fs.readFileSync(
              path.join(
                HERE,
                "..",
                "core",
                "fixtures",
                "delta",
                "delta-1.0.0-to-1.0.1.esp_delta_ota.patch",
              ),
            ),
          )
        : buildAppImage({
            version: file === "base" ? "1.0.0" : "1.0.1",
            size: 262144,
            seed: 1,
            idfVersion: VECTORS_IDF,
          });
    return { size: appImage.length, sha256: createHash("sha256").update(appImage).digest("hex") };
  },
  /** Hex of a piece of the last appImage: small pieces, since long strings are slow to index in XS. */
  imageSlice({ offset, length }: { offset: number; length: number }): string {
    return Buffer.from(appImage.subarray(offset, offset + length)).toString("hex");
  },
  /** Hex of a piece of a file of test/fixtures/espsecure (the vectors espsecure made). */
  fixture({ name, offset, length }: { name: string; offset: number; length: number }): string {
    const bytes = fs.readFileSync(path.join(HERE, "..", "fixtures", "espsecure", name));
    return bytes.subarray(offset, offset + length).toString("hex");
  },
  /** A text file of test/fixtures/espsecure (a PEM key). */
  fixtureText(name: string): string {
    return fs.readFileSync(path.join(HERE, "..", "fixtures", "espsecure", name), "utf8");
  },
  /** A reference digest from Node's crypto or zlib, as lower-case hex. */
  digest({ algorithm, hex }: { algorithm: string; hex: string }): string {
    const data = fromHex(hex);
    if (!data) throw new Error("bad hex");
    if (algorithm === "crc32") return (zlib.crc32(data) >>> 0).toString(16).padStart(8, "0");
    return createHash(algorithm).update(data).digest("hex");
  },
};

function callHost(request: string): string {
  const { operation, argument } = JSON.parse(request) as { operation: string; argument: never };
  try {
    const run = HOST_OPERATIONS[operation];
    if (!run) throw new Error(`unknown host operation ${operation}`);
    return JSON.stringify({ value: run(argument) });
  } catch (error) {
    return JSON.stringify({ error: String(error) });
  }
}

/** A source file to bundle as a module of cases: its default export is an object of cases. */
export interface CaseModule {
  name: string;
  file: string;
}

async function build(options: esbuild.BuildOptions): Promise<string> {
  const result = await esbuild.build({
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    // No Node built-ins: a case that imports one fails to bundle.
    platform: "neutral",
    mainFields: ["module", "main"],
    // Strict code, as an ES module is in a Moddable app: that is where frozen intrinsics throw.
    banner: { js: '"use strict";' },
    logLevel: "silent",
    ...options,
  });
  return result.outputFiles![0].text;
}

/** The runtime and the case modules, as one script. */
export function bundleCases(modules: CaseModule[]): Promise<string> {
  const lines = [`import { install } from ${JSON.stringify(path.join(HERE, "runtime.ts"))};`];
  modules.forEach((module, i) => lines.push(`import m${i} from ${JSON.stringify(module.file)};`));
  const entries = modules.map((module, i) => `${JSON.stringify(module.name)}: m${i}`);
  lines.push(`install({ ${entries.join(", ")} });`);
  return build({
    stdin: { contents: lines.join("\n"), resolveDir: HERE, loader: "ts", sourcefile: "cases.ts" },
    // The project's modules as a Moddable app's preload leaves them.
    plugins: [preloadPlugin()],
  });
}

const freezeScript = build({ entryPoints: [path.join(HERE, "freeze.ts")] });

/**
 * A case's end; in xsnap, `compute`: the compute meter summed over the case's commands, and
 * `allocate`: the bytes the engine's heaps had grown to after its last command, `heapCount`: the
 * slots then in use.
 */
export type Outcome =
  | { ok: true; result: string; compute?: number; allocate?: number; heapCount?: number }
  | { ok: false; error: string };

/** One engine with a bundle loaded. */
export interface Engine {
  readonly name: string;
  list(): Promise<string[]>;
  run(caseName: string, timeoutMs?: number): Promise<Outcome>;
  close(): Promise<void>;
}

/** Runs a case to its end by firing virtual timers whenever the engine goes idle. */
async function drive(
  send: (command: object) => Promise<string>,
  caseName: string,
  timeoutMs: number,
): Promise<Outcome> {
  const deadline = Date.now() + timeoutMs;
  let status = JSON.parse(await send({ op: "start", name: caseName })) as CaseStatus;
  while (status.state === "waiting") {
    if (status.timers === 0) return { ok: false, error: "never settles: no timer is pending" };
    if (Date.now() > deadline) return { ok: false, error: `timed out after ${timeoutMs} ms` };
    status = JSON.parse(await send({ op: "tick" })) as CaseStatus;
  }
  return status.state === "done"
    ? { ok: true, result: status.result }
    : { ok: false, error: status.error };
}

/** An xsnap worker with the frozen intrinsics and the bundle loaded. */
async function startXs(bundle: string, name: string): Promise<XSnap> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const worker = await xsnap({
    os: os.type(),
    spawn: childProcess.spawn,
    fs: { ...fs, ...fs.promises, tmpName: tmp.tmpName },
    name,
    stdout: "inherit",
    stderr: "inherit",
    // No computation limit per command: a benchmark hashes megabytes in one.
    meteringLimit: 0,
    handleCommand: async (request: Uint8Array) => encoder.encode(callHost(decoder.decode(request))),
  });
  try {
    await worker.evaluate(await freezeScript);
    await worker.evaluate(bundle);
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return worker;
}

/**
 * The real XS engine in an xsnap worker process. A worker that dies or is stopped (a case that
 * never yields) is replaced by a fresh one for the next case.
 */
export async function openXs(bundle: string, name = "otaflow-xs"): Promise<Engine> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let worker: XSnap | undefined = await startXs(bundle, name);
  let compute = 0;
  let allocate: number | undefined;
  let heapCount: number | undefined;
  const send = (current: XSnap) => async (command: object) => {
    const { reply, meterUsage } = await current.issueCommand(
      encoder.encode(JSON.stringify(command)),
    );
    // xsnap's reply carries these two besides the compute meter; its types declare only that.
    const usage = meterUsage as typeof meterUsage & {
      allocate?: number | null;
      currentHeapCount?: number | null;
    };
    compute += usage.compute ?? 0;
    allocate = usage.allocate ?? undefined;
    heapCount = usage.currentHeapCount ?? undefined;
    return decoder.decode(reply);
  };
  return {
    name: "xs",
    list: async () => {
      worker ??= await startXs(bundle, name);
      return JSON.parse(await send(worker)({ op: "list" })) as string[];
    },
    async run(caseName, timeoutMs = 120_000) {
      const current = (worker ??= await startXs(bundle, name));
      compute = 0;
      const stop = () => {
        if (worker === current) worker = undefined;
        void current.terminate().catch(() => {});
      };
      const running = drive(send(current), caseName, timeoutMs)
        .then((outcome) => (outcome.ok ? { ...outcome, compute, allocate, heapCount } : outcome))
        .catch((error: unknown) => {
          stop();
          return { ok: false, error: `the XS worker failed: ${String(error)}` } as Outcome;
        });
      // A case that never yields (an endless loop) cannot be interrupted: stop the worker.
      let timer: NodeJS.Timeout | undefined;
      const watchdog = new Promise<Outcome>((resolve) => {
        timer = setTimeout(() => {
          stop();
          resolve({ ok: false, error: `no answer in ${timeoutMs} ms: the XS worker was stopped` });
        }, timeoutMs);
      });
      try {
        return await Promise.race([running, watchdog]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await worker?.close();
      worker = undefined;
    },
  };
}

/** Node's V8, in a vm context of its own whose intrinsics are frozen the same way. */
export async function openNode(bundle: string): Promise<Engine> {
  const context = vm.createContext(
    {
      hostCall: callHost,
      print: (...values: unknown[]) => console.log(...values),
      performance: { now: () => performance.now() },
    },
    // Promise jobs run before runInContext returns, as xsnap runs them before it answers, and
    // they count against the timeout.
    { microtaskMode: "afterEvaluate" },
  );
  vm.runInContext(await freezeScript, context);
  vm.runInContext(bundle, context);
  let timeout = 10_000;
  const send = async (command: object): Promise<string> => {
    context.command = JSON.stringify(command);
    const reply = vm.runInContext("xsHarness.command(command)", context, { timeout }) as string;
    return reply || (vm.runInContext("xsHarness.status()", context, { timeout }) as string);
  };
  return {
    name: "node",
    list: async () => JSON.parse(await send({ op: "list" })) as string[],
    async run(caseName, timeoutMs = 120_000) {
      timeout = timeoutMs;
      try {
        return await drive(send, caseName, timeoutMs);
      } catch (error) {
        // The timeout interrupts a case that never yields; the context stays usable.
        return { ok: false, error: String(error) };
      }
    },
    close: async () => {},
  };
}
