// The simulator's update time over loopback, run by simulator.ts in a fresh Node process, against
// a baseline against the same firmware server: one HTTP GET, an MD5 and a file write, no agent.
// "device": the whole simulated board (runDevice, ESP32, 16 MiB flash) from the cloud's offer to
// the staged image and on to the new image's confirmation. "agent": for images larger than the
// 16 MiB slots an ESP32 allows, the agent with the ports runDevice builds, on an ESP32-S3 with a
// 256 MiB flash, from the offer to the staged image (runDevice has no chip option).

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { Session } from "node:inspector/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FlashBootControl } from "../../hosts/node/boot-control";
import { boot, ESP32_S3 } from "../../hosts/node/bootloader";
import { nodeClock } from "../../hosts/node/clock";
import { runDevice, type DeviceEvent } from "../../hosts/node/device";
import { FlashFile } from "../../hosts/node/flash";
import { createNodeHttpClient } from "../../hosts/node/http";
import { FlashSlotWriter } from "../../hosts/node/slot";
import { FlashKeyValueStore } from "../../hosts/node/store";
import { Agent, type AgentNotice } from "../../src/core/agent/agent";
import type { Offer } from "../../src/core/offer";
import type { Logger, NativeDigests } from "../../src/core/ports";
import { ScriptedCloud } from "../../test/support/scripted-cloud";
import { startFirmwareServer } from "../fwserver/index";
import { buildAppImage } from "../image/build";

export const RUNS = 5;
const MiB = 1024 * 1024;
const quiet: Logger = { log: () => {} };

export interface Timings {
  size: number;
  /** Best of RUNS, ms. */
  baseline: number;
  staged: number;
  /** Offer to the new image's confirmation ("device" only). */
  confirmed?: number;
}

interface Served {
  dir: string;
  url: string;
  file: string;
  md5: string;
  close(): Promise<void>;
}

async function serve(size: number, chipId: number): Promise<Served> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-bench-sim-"));
  const server = await startFirmwareServer({ root: dir });
  const write = (name: string, version: string, bytes: number, seed: number) => {
    const image = buildAppImage({ version, size: bytes, seed, chipId });
    fs.writeFileSync(path.join(dir, name), image);
    return createHash("md5").update(image).digest("hex");
  };
  write("factory.bin", "1.0.0", 64 * 1024, 1);
  const md5 = write("update.bin", "2.0.0", size, 2);
  return {
    dir,
    url: `${server.url}/update.bin`,
    file: path.join(dir, "update.bin"),
    md5,
    async close() {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function offerOf(served: Served, size: number): Offer {
  return {
    backend: "scripted",
    id: `job-${Date.now()}`,
    version: "2.0.0",
    size,
    source: { kind: "http", url: served.url },
    hashes: { md5: served.md5 },
    context: {},
  };
}

/** GET + MD5 + write to a file, the least any updater does; ms. */
function baselineOnce(served: Served): Promise<number> {
  const target = path.join(served.dir, "baseline.out");
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(served.url, (response) => {
        const hash = createHash("md5");
        const fd = fs.openSync(target, "w");
        response.on("data", (chunk: Buffer) => {
          hash.update(chunk);
          fs.writeSync(fd, chunk);
        });
        response.on("end", () => {
          fs.closeSync(fd);
          const md5 = hash.digest("hex");
          if (md5 !== served.md5) reject(new Error(`baseline MD5 ${md5}`));
          else resolve(performance.now() - started);
        });
        response.on("error", reject);
      })
      .on("error", reject);
  });
}

/** The whole board: offer to staged and to confirmed, ms. */
async function deviceOnce(served: Served, size: number) {
  const flashPath = path.join(served.dir, "device.flash");
  fs.rmSync(flashPath, { force: true });
  const cloud = new ScriptedCloud();
  let offeredAt = 0;
  let stagedAt = 0;
  let confirmedAt = 0;
  let failure: string | undefined;
  let powerOff!: () => void;
  const off = new Promise<void>((resolve) => (powerOff = resolve));
  const timer = setTimeout(powerOff, 120_000);
  let started = false;
  await runDevice({
    flashPath,
    factoryImagePath: path.join(served.dir, "factory.bin"),
    flashSize: 16 * MiB,
    cloud: {
      brokerUrl: "mqtt://127.0.0.1:1",
      identity: { clientId: "bench" },
      createBackend: () => cloud.backend(),
    },
    powerOff: off,
    onEvent: (event: DeviceEvent) => {
      // The offer goes out once the factory image has booted and its agent is listening.
      if (event.event === "boot" && !started) {
        started = true;
        setImmediate(() => {
          offeredAt = performance.now();
          cloud.deploy(offerOf(served, size));
        });
      }
      if (event.event === "state" && event.cause === "staged") stagedAt = performance.now();
      if (event.event === "confirm") confirmedAt = performance.now();
      if (event.event === "report" && event.status === "failed") failure = JSON.stringify(event);
      if (confirmedAt || failure) powerOff();
    },
  });
  clearTimeout(timer);
  if (failure || !stagedAt || !confirmedAt) throw new Error(`device run failed: ${failure}`);
  return { staged: stagedAt - offeredAt, confirmed: confirmedAt - offeredAt };
}

/** Node's crypto as the NativeDigests port, which the simulator's ports do not give. */
const nodeDigests: NativeDigests = (algorithm) => {
  if (algorithm !== "md5" && algorithm !== "sha256") return undefined;
  const hash = createHash(algorithm);
  return {
    update(data) {
      hash.update(data);
    },
    digest() {
      return new Uint8Array(hash.digest());
    },
  };
};

/**
 * The agent with runDevice's ports on an ESP32-S3 board, started and waiting for an offer; with
 * `native`, plus Node's crypto as its NativeDigests, as the ESP32 host gives mbedTLS's.
 */
async function agentBoard(served: Served, size: number, native = false) {
  const flashPath = path.join(served.dir, "s3.flash");
  fs.rmSync(flashPath, { force: true });
  const factoryImage = new Uint8Array(fs.readFileSync(path.join(served.dir, "factory.bin")));
  const flash = FlashFile.create(flashPath, { size: 256 * MiB, factoryImage });
  const chip = ESP32_S3;
  const booted = boot(flash, { chip });
  const cloud = new ScriptedCloud();
  let offeredAt = 0;
  let done!: (ms: number) => void;
  let fail!: (error: Error) => void;
  const staged = new Promise<number>((resolve, reject) => ((done = resolve), (fail = reject)));
  const agent = new Agent({
    ports: {
      slot: new FlashSlotWriter(flash, booted, { chip }),
      boot: new FlashBootControl(flash, booted, { chip, reboot: () => {} }),
      http: createNodeHttpClient(),
      store: new FlashKeyValueStore(flash),
      clock: nodeClock,
      logger: quiet,
      nativeDigests: native ? nodeDigests : undefined,
    },
    backend: cloud.backend(),
    config: { autoReboot: false, chipId: chip.id },
    onNotice: (notice: AgentNotice) => {
      if (notice.event === "state" && notice.cause === "staged")
        done(performance.now() - offeredAt);
      if (notice.event === "report" && notice.status === "failed")
        fail(new Error(JSON.stringify(notice)));
    },
  });
  await agent.start();
  return {
    /** Offers the update; resolves with the ms from the offer to the staged image. */
    update(): Promise<number> {
      offeredAt = performance.now();
      cloud.deploy(offerOf(served, size));
      return staged;
    },
    async close() {
      await agent.stop();
      flash.close();
    },
  };
}

async function agentOnce(served: Served, size: number, native = false): Promise<number> {
  const board = await agentBoard(served, size, native);
  try {
    return await board.update();
  } finally {
    await board.close();
  }
}

/** Best of RUNS for each, the runs of both interleaved so that both see the same machine. */
function measure(kind: "device" | "agent" | "agent+native", size: number) {
  return async (): Promise<Timings> => {
    const served = await serve(size, kind === "device" ? 0 : ESP32_S3.id);
    try {
      const timings: Timings = { size, baseline: Infinity, staged: Infinity };
      for (let run = 0; run <= RUNS; run++) {
        const baseline = await baselineOnce(served);
        let staged: number;
        let confirmed: number | undefined;
        if (kind === "device") ({ staged, confirmed } = await deviceOnce(served, size));
        else staged = await agentOnce(served, size, kind === "agent+native");
        // Run 0 warms up the JIT and the page cache.
        if (run === 0) continue;
        timings.baseline = Math.min(timings.baseline, baseline);
        timings.staged = Math.min(timings.staged, staged);
        if (confirmed !== undefined)
          timings.confirmed = Math.min(timings.confirmed ?? Infinity, confirmed);
      }
      return timings;
    } finally {
      await served.close();
    }
  };
}

export interface HotFunction {
  /** "function (file)": the innermost frame in this repository's code, or "(garbage collector)"... */
  where: string;
  /** Samples' time there, including native and Node library code it called, ms. */
  ms: number;
  /** Of which in native or Node library code (fs, crypto...). */
  belowMs: number;
}

interface Profile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The repository file of a frame, or undefined for native code, Node's library and packages. */
function ownFile(url: string): string | undefined {
  if (!url.startsWith("file://")) return undefined;
  const file = path.relative(repository, fileURLToPath(url));
  return file.startsWith("..") || file.startsWith("node_modules") ? undefined : file;
}

/**
 * Time per function of a V8 CPU profile (as --cpu-prof writes one), each sample given to the
 * innermost frame in this repository's code, so that the fs, crypto and Node library work a
 * function asks for is counted with it. Largest first.
 */
function hotFunctions(profile: Profile): HotFunction[] {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const totals = new Map<string, HotFunction>();
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    let at: number | undefined = id;
    let below = false;
    let where = byId.get(id)!.callFrame.functionName || "(anonymous)";
    while (at !== undefined) {
      const frame = byId.get(at)!.callFrame;
      const file = ownFile(frame.url);
      if (file) {
        where = `${frame.functionName || "(anonymous)"} (${file})`;
        break;
      }
      below = true;
      at = parent.get(at);
    }
    if (at === undefined) below = false;
    const entry = totals.get(where) ?? { where, ms: 0, belowMs: 0 };
    entry.ms += ms;
    if (below) entry.belowMs += ms;
    totals.set(where, entry);
  });
  return [...totals.values()].sort((a, b) => b.ms - a.ms);
}

/** One agent run (offer to staged) under V8's CPU profiler, sampled every 100 µs. */
function profileAgent(size: number, native: boolean) {
  return async function profiledRun(): Promise<{ ms: number; hot: HotFunction[] }> {
    const served = await serve(size, ESP32_S3.id);
    const session = new Session();
    session.connect();
    try {
      await agentOnce(served, size, native); // warm-up
      const board = await agentBoard(served, size, native);
      try {
        await session.post("Profiler.enable");
        await session.post("Profiler.setSamplingInterval", { interval: 100 });
        await session.post("Profiler.start");
        const ms = await board.update();
        const { profile } = await session.post("Profiler.stop");
        return { ms, hot: hotFunctions(profile as Profile) };
      } finally {
        await board.close();
      }
    } finally {
      session.disconnect();
      await served.close();
    }
  };
}

export default {
  "device 4 MiB": measure("device", 4 * MiB),
  "agent 4 MiB": measure("agent", 4 * MiB),
  "agent 64 MiB": measure("agent", 64 * MiB),
  "agent+native 64 MiB": measure("agent+native", 64 * MiB),
  "profile agent 64 MiB": profileAgent(64 * MiB, false),
  "profile agent+native 64 MiB": profileAgent(64 * MiB, true),
};
