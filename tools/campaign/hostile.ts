// Hostile firmware servers through the real agent on the simulated board: each misbehaviour ends in
// the right final state with a specific reason, and the running slot is never written.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { AgentConfig } from "../../src/core/agent/agent";
import type { Offer, Report } from "../../src/core/offer";
import { FlashFile } from "../../hosts/node/flash";
import { defaultLayout } from "../../hosts/node/partitions";
import { ScriptedCloud } from "../../test/support/scripted-cloud";
import { startFirmwareServer, type Fault, type RequestRecord } from "../fwserver/index";
import { buildAppImage } from "../image/build";
import { runBoard } from "./board";

export interface HostileScenario {
  name: string;
  /** Fault on the first request, and (optionally) one for the request after the first interruption. */
  first?: Fault;
  afterInterruption?: Fault;
  /** "succeeded", or "failed: CODE" with the failure code the cloud must be told. */
  expect: string;
  /** Agent settings for this scenario (over the campaign's short backoff). */
  agent?: Partial<AgentConfig>;
  /** Further check on the firmware server's log; returns a complaint or undefined. */
  check?: (requests: RequestRecord[], logs: string[]) => string | undefined;
}

export interface HostileResult {
  name: string;
  expect: string;
  got: string;
  reason: string;
  requests: number;
  violations: string[];
}

const OLD = "1.0.0";
const NEW = "1.1.0";
const IMAGE_SIZE = 256 * 1024;
/** A first response cut short here forces a resume with Range. */
const CUT_AT = 100_000;

const statuses = (requests: RequestRecord[]) => requests.map((r) => r.status).join(",");

export const HOSTILE_SCENARIOS: HostileScenario[] = [
  {
    name: "200 instead of 206 on the resume (Range ignored)",
    first: { kind: "short-body", bytes: CUT_AT, times: 1 },
    afterInterruption: { kind: "ignore-range", times: 1 },
    expect: "succeeded",
    check: (r) =>
      r.length >= 2 && r[1].range === `bytes=${CUT_AT}-` && r[1].status === 200
        ? undefined
        : `expected a ranged request answered 200, got ${statuses(r)}`,
  },
  {
    name: "wrong Content-Range start on the resume (body from 0)",
    first: { kind: "short-body", bytes: CUT_AT, times: 1 },
    afterInterruption: { kind: "wrong-content-range", mode: "start", times: 1 },
    expect: "failed: content-range",
  },
  {
    name: "wrong Content-Range total on every resume",
    first: { kind: "short-body", bytes: CUT_AT, times: 1 },
    afterInterruption: { kind: "wrong-content-range", mode: "total" },
    expect: "failed: content-range",
  },
  {
    name: "gzip body on every ranged request",
    first: { kind: "short-body", bytes: CUT_AT, times: 1 },
    afterInterruption: { kind: "gzip-range" },
    expect: "failed: http-status",
  },
  {
    name: "connection closed before the announced length, once",
    first: { kind: "short-body", bytes: CUT_AT, times: 1 },
    expect: "succeeded",
    check: (r) => (r[1]?.range === `bytes=${CUT_AT}-` ? undefined : "the retry did not resume"),
  },
  { name: "body longer than announced", first: { kind: "long-body" }, expect: "failed: body-long" },
  { name: "redirect loop", first: { kind: "redirect-loop" }, expect: "failed: redirect-loop" },
  { name: "redirects within the limit", first: { kind: "redirect", hops: 3 }, expect: "succeeded" },
  {
    name: "403: the URL has expired",
    first: { kind: "expiring-url" },
    expect: "failed: url-expired",
  },
  {
    name: "storm of 503 with Retry-After: 1, then service",
    first: { kind: "status", status: 503, retryAfter: "1", times: 3 },
    // Retry-After is honoured up to the backoff ceiling (60 s by default).
    agent: { backoff: { baseMs: 5, maxMs: 5000 } },
    expect: "succeeded",
    check: (_r, logs) => {
      // Retry-After is a floor on each wait.
      const waits = logs.flatMap((l) => /retry in (\d+) ms/.exec(l)?.[1] ?? []).map(Number);
      return waits.length === 3 && waits.every((w) => w >= 1000)
        ? undefined
        : `waited ${waits.join(",")} ms, not at least 1 s three times`;
    },
  },
  {
    name: "500 on every request",
    first: { kind: "status", status: 500 },
    expect: "failed: retries-exhausted",
  },
  { name: "404", first: { kind: "status", status: 404 }, expect: "failed: not-found" },
  {
    name: "stall after 50 KB, once",
    first: { kind: "stall", bytes: 50_000, times: 1 },
    expect: "succeeded",
  },
];

export async function runHostile(scenarios = HOSTILE_SCENARIOS): Promise<HostileResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-hostile-"));
  const server = await startFirmwareServer({ root: dir });
  try {
    const update = buildAppImage({ version: NEW, size: IMAGE_SIZE, seed: 3 });
    fs.writeFileSync(path.join(dir, "update.bin"), update);
    const template = path.join(dir, "template.flash");
    FlashFile.create(template, {
      factoryImage: buildAppImage({ version: OLD, size: 32 * 1024 }),
    }).close();
    const ota0 = defaultLayout(fs.statSync(template).size).find((p) => p.label === "ota_0")!;
    const flashPath = path.join(dir, "device.flash");
    const slotHash = () => {
      const flash = FlashFile.open(flashPath);
      try {
        return createHash("sha256").update(flash.read(ota0.offset, ota0.size)).digest("hex");
      } finally {
        flash.close();
      }
    };
    const results: HostileResult[] = [];
    for (const scenario of scenarios) {
      fs.copyFileSync(template, flashPath);
      const before = slotHash();
      server.requests.length = 0;
      server.setFault(scenario.first);
      const cloud = new ScriptedCloud();
      const offer: Offer = {
        backend: "scripted",
        id: `hostile-${results.length}`,
        version: NEW,
        size: update.length,
        source: { kind: "http", url: `${server.url}/update.bin` },
        hashes: { sha256: createHash("sha256").update(update).digest("hex") },
        context: {},
      };
      cloud.offer = offer;
      let interrupted = false;
      const run = await runBoard({
        flashPath,
        cloud: () => cloud.backend(),
        agent: {
          httpReadTimeoutMs: 500,
          maxAttempts: 4,
          backoff: { baseMs: 5, maxMs: 20 },
          ...scenario.agent,
        },
        until: (event) => {
          const interruption = event.event === "log" && /transfer interrupted/.test(event.message);
          if (interruption && scenario.afterInterruption && !interrupted) {
            interrupted = true;
            server.setFault(scenario.afterInterruption);
          }
          return event.event === "report" && ["succeeded", "failed"].includes(event.status);
        },
        timeoutMs: 30_000,
      });
      server.setFault(undefined);
      const violations: string[] = [];
      const last: Report | undefined = cloud.reports[cloud.reports.length - 1];
      const got = last?.failure ? `${last.status}: ${last.failure.code}` : (last?.status ?? "none");
      const reason = last?.failure?.message ?? "";
      if (run.timedOut) violations.push("no final state within 30 s");
      if (run.bricked) violations.push(`bricked: ${run.bricked}`);
      if (got !== scenario.expect)
        violations.push(`expected ${scenario.expect}, got ${got} ${reason}`);
      // The running image is untouched whatever the server did (the new one lives in ota_1).
      if (slotHash() !== before) violations.push("the running slot ota_0 was written");
      const logs = run.events.flatMap((e) => (e.event === "log" ? [e.message] : []));
      const complaint = scenario.check?.(server.requests, logs);
      if (complaint) violations.push(complaint);
      results.push({
        name: scenario.name,
        expect: scenario.expect,
        got,
        reason,
        requests: server.requests.length,
        violations,
      });
    }
    return results;
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
