// The simulator's update time over loopback, run by simulator.ts in a fresh Node process, against
// a baseline against the same firmware server: one HTTP GET, an MD5 and a file write, no agent.
// The board is an ESP32 with a 16 MiB flash for 4 MiB, an ESP32-S3 with a 256 MiB flash for
// 64 MiB (an ESP32's slots stop at 16 MiB). "device": the whole simulated board (runDevice) from
// the cloud's offer to the staged image and on to the new image's confirmation. "agent": the agent
// alone with the ports runDevice builds (Node's digests on the hash worker included), from the
// offer to the staged image; "one thread" runs it with every hash on the main thread instead.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { Session } from "node:inspector/promises";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FlashBootControl } from "../../hosts/node/boot-control";
import { boot, ESP32, ESP32_S3, verifyAppImage } from "../../hosts/node/bootloader";
import { nodeClock } from "../../hosts/node/clock";
import { runDevice, type DeviceEvent } from "../../hosts/node/device";
import { nodeDigests, useHashWorker } from "../../hosts/node/digests";
import { FlashFile } from "../../hosts/node/flash";
import { createNodeHttpClient } from "../../hosts/node/http";
import { otaSlots, readPartitionTable } from "../../hosts/node/partitions";
import { FlashSlotWriter } from "../../hosts/node/slot";
import { FlashKeyValueStore } from "../../hosts/node/store";
import { Agent, DEFAULT_CONFIG, type AgentNotice } from "../../src/core/agent/agent";
import { journalInterval } from "../../src/core/transfer";
import { Journal } from "../../src/core/journal";
import type { Offer } from "../../src/core/offer";
import type { Logger } from "../../src/core/ports";
import { ScriptedCloud } from "../../test/support/scripted-cloud";
import { startFirmwareServer } from "../fwserver/index";
import { buildAppImage } from "../image/build";

const MiB = 1024 * 1024;
/**
 * Runs per figure: more for a small image, whose runs are short and whose best is the more easily
 * missed on a busy machine.
 */
export const runsFor = (size: number) => (size <= 4 * MiB ? 21 : 7);
/** The boards: an ESP32's slots stop at 16 MiB, an ESP32-S3 maps larger ones. */
const BOARDS = {
  esp32: { chip: ESP32, flashSize: 16 * MiB },
  esp32s3: { chip: ESP32_S3, flashSize: 256 * MiB },
};
type Board = (typeof BOARDS)[keyof typeof BOARDS];
/** The ESP32 where its slots allow the image, else the ESP32-S3. */
const boardFor = (size: number): Board => (size <= 4 * MiB ? BOARDS.esp32 : BOARDS.esp32s3);
const quiet: Logger = { log: () => {} };

export interface Timings {
  size: number;
  /** Each run's time, ms, in the order run (baseline and staged of one run are neighbours). */
  baseline: number[];
  staged: number[];
  /** Offer to the new image's confirmation ("device" only). */
  confirmed: number[];
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

/** Bytes the baseline writes between two flushes started in the background, as the slot does. */
const FLUSH_EVERY = MiB;

/**
 * GET + MD5 + write to a file, the least any updater does, with the agent's means: the MD5 from
 * nodeDigests (on the hash worker unless useHashWorker(false)), each piece written synchronously
 * and the file flushed (fdatasync) on libuv's pool every MiB and at the end; ms.
 */
function baselineOnce(served: Served): Promise<number> {
  const target = path.join(served.dir, "baseline.out");
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(served.url, (response) => {
        const hash = nodeDigests("md5")!;
        const fd = fs.openSync(target, "w");
        let written = 0;
        let flushedTo = 0;
        let flushing: Promise<void> = Promise.resolve();
        const flush = () =>
          new Promise<void>((done, failed) =>
            fs.fdatasync(fd, (error) => (error ? failed(error) : done())),
          );
        response.on("data", (chunk: Buffer) => {
          hash.update(chunk);
          fs.writeSync(fd, chunk);
          written += chunk.length;
          if (written - flushedTo >= FLUSH_EVERY) {
            flushedTo = written;
            flushing = flushing.then(flush);
          }
        });
        response.on("end", () => {
          const md5 = Buffer.from(hash.digest()).toString("hex");
          flushing
            .then(flush)
            .then(() => {
              fs.closeSync(fd);
              if (md5 !== served.md5) reject(new Error(`baseline MD5 ${md5}`));
              else resolve(performance.now() - started);
            })
            .catch(reject);
        });
        response.on("error", reject);
      })
      .on("error", reject);
  });
}

/** The whole board: offer to staged and to confirmed, ms. */
async function deviceOnce(served: Served, size: number, board: Board) {
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
    flashSize: board.flashSize,
    chip: board.chip,
    cloud: {
      brokerUrl: "mqtt://127.0.0.1:1",
      identity: { clientId: "bench" },
      createBackend: () => cloud.backend(),
    },
    agent: { allowPlaintext: true },
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

/** The agent with runDevice's ports on a board, started and waiting for an offer. */
async function agentBoard(served: Served, size: number, { chip, flashSize }: Board) {
  const flashPath = path.join(served.dir, "agent.flash");
  fs.rmSync(flashPath, { force: true });
  const factoryImage = new Uint8Array(fs.readFileSync(path.join(served.dir, "factory.bin")));
  const flash = FlashFile.create(flashPath, { size: flashSize, factoryImage, chip });
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
      nativeDigests: nodeDigests,
    },
    backend: cloud.backend(),
    config: { autoReboot: false, chipId: chip.id, allowPlaintext: true },
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

async function agentOnce(served: Served, size: number, on: Board): Promise<number> {
  const board = await agentBoard(served, size, on);
  try {
    return await board.update();
  } finally {
    await board.close();
  }
}

/**
 * runsFor(size) of each, the runs of both interleaved so that both see the same machine. "one
 * thread": every hash, the agent's and the baseline's, on the main thread, not on the hash worker.
 */
function measure(kind: "device" | "agent" | "one thread", size: number) {
  return async (): Promise<Timings> => {
    const board = boardFor(size);
    if (kind === "one thread") useHashWorker(false);
    const served = await serve(size, board.chip.id);
    try {
      const timings: Timings = { size, baseline: [], staged: [], confirmed: [] };
      for (let run = 0; run <= runsFor(size); run++) {
        const baseline = await baselineOnce(served);
        let staged: number;
        let confirmed: number | undefined;
        if (kind === "device") ({ staged, confirmed } = await deviceOnce(served, size, board));
        else staged = await agentOnce(served, size, board);
        // Run 0 warms up the JIT and the page cache.
        if (run === 0) continue;
        timings.baseline.push(baseline);
        timings.staged.push(staged);
        if (confirmed !== undefined) timings.confirmed.push(confirmed);
      }
      return timings;
    } finally {
      await served.close();
    }
  };
}

export interface ChecksAlone {
  size: number;
  /** Best of runsFor(size), ms, each part timed on its own. */
  baseline: number;
  /** Erasing the sectors of the image in the other slot, 64 KiB at a time. */
  erase: number;
  /** verifyAppImage of the image in its slot, read back from the flash file (esp_ota_end). */
  verify: number;
  /** The same with the SHA-256 on this thread rather than on the hash worker. */
  verifyOneThread: number;
  /** The journal's writes of the resume record over an image of `size`, one per interval. */
  journal: number;
  journalWrites: number;
}

/** Pieces as the loopback delivers them to the agent. */
const PIECE = 64 * 1024;

/** What the agent does beyond the baseline, each part alone, with no download around it. */
function checksAlone(size: number) {
  return async (): Promise<ChecksAlone> => {
    const served = await serve(size, ESP32_S3.id);
    const image = new Uint8Array(fs.readFileSync(served.file));
    const flashPath = path.join(served.dir, "checks.flash");
    FlashFile.create(flashPath, { size: 256 * MiB, factoryImage: image, chip: ESP32_S3 }).close();
    const interval = journalInterval(DEFAULT_CONFIG, 4096, size);
    const best: ChecksAlone = {
      size,
      baseline: Infinity,
      erase: Infinity,
      verify: Infinity,
      verifyOneThread: Infinity,
      journal: Infinity,
      journalWrites: Math.ceil(size / interval) - 1,
    };
    type Part = "erase" | "verify" | "verifyOneThread" | "journal";
    const time = async (part: Part, work: () => void | Promise<void>) => {
      const started = performance.now();
      await work();
      return [part, performance.now() - started] as const;
    };
    // Opened afresh for each verification: a FlashFile remembers the images it has verified.
    const verify = (hashWorker: boolean) => () => {
      const flash = FlashFile.open(flashPath);
      useHashWorker(hashWorker);
      try {
        const [slot] = otaSlots(readPartitionTable(flash));
        if (!verifyAppImage(flash, slot, ESP32_S3).ok) throw new Error("image invalid");
      } finally {
        useHashWorker(true);
        flash.close();
      }
    };
    try {
      for (let run = 0; run <= runsFor(size); run++) {
        const baseline = await baselineOnce(served);
        const flash = FlashFile.open(flashPath);
        const other = otaSlots(readPartitionTable(flash))[1];
        const journal = new Journal(new FlashKeyValueStore(flash), quiet);
        const parts = [
          await time("erase", () => {
            for (let at = 0; at < size; at += PIECE) flash.erase(other.offset + at, PIECE);
          }),
          await time("verify", verify(true)),
          await time("verifyOneThread", verify(false)),
          await time("journal", async () => {
            for (let at = interval; at < size; at += interval)
              await journal.save("bench;job;2.0.0", other.label, at);
          }),
        ];
        await journal.clear();
        flash.close();
        if (run === 0) continue;
        best.baseline = Math.min(best.baseline, baseline);
        for (const [part, ms] of parts) best[part] = Math.min(best[part], ms);
      }
      return best;
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
function profileAgent(size: number) {
  return async function profiledRun(): Promise<{ ms: number; hot: HotFunction[] }> {
    const served = await serve(size, ESP32_S3.id);
    const session = new Session();
    session.connect();
    try {
      await agentOnce(served, size, BOARDS.esp32s3); // warm-up
      const board = await agentBoard(served, size, BOARDS.esp32s3);
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
  "device 64 MiB": measure("device", 64 * MiB),
  "agent 4 MiB": measure("agent", 4 * MiB),
  "agent 64 MiB": measure("agent", 64 * MiB),
  "one thread 4 MiB": measure("one thread", 4 * MiB),
  "one thread 64 MiB": measure("one thread", 64 * MiB),
  "checks 64 MiB": checksAlone(64 * MiB),
  "profile agent 64 MiB": profileAgent(64 * MiB),
};
