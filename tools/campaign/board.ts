// The simulated board under a power-cut plan, in-process: every FlashFile the device opens gets a
// hook that cuts the power before flash operation N (counted across in-process reboots, as
// OTAFLOW_POWER_CUT_AT counts them), optionally letting half of that operation's bytes land (a
// torn write or erase). After the cut the board is dead: every later flash operation fails, the
// backend neither reports nor listens, and the run powers off. The next run on the same flash file
// is the reboot after the power came back.
import * as fs from "node:fs";
import type { AgentConfig } from "../../src/core/agent/agent";
import type { Backend } from "../../src/core/backend";
import { runDevice, type DeviceCloud, type DeviceEvent } from "../../hosts/node/device";
import { FlashFile, type FlashOperationKind } from "../../hosts/node/flash";

export interface PowerCut {
  /** Index of the flash operation (erase or write) the power is cut before. */
  at: number;
  /** Let half of operation `at` reach the flash before the cut. */
  torn: boolean;
}

export interface FlashOperation {
  kind: FlashOperationKind;
  offset: number;
  length: number;
}

export interface BoardRun {
  events: DeviceEvent[];
  /** Flash operations that started in this run (the cut one included). */
  operations: FlashOperation[];
  /** Set when the cut happened: the agent state and boot number it hit. */
  cut?: { kind: FlashOperationKind; offset: number; phase: string };
  /** The bootloader found nothing to boot, or the device failed to start. */
  bricked?: string;
  timedOut: boolean;
}

/** Bytes of the image in the slot at `slotOffset` written before operation `before`, and the largest write. */
export function slotProgress(
  operations: FlashOperation[],
  before: number,
  slotOffset: number,
): { written: number; largestWrite: number } {
  let written = 0;
  let largestWrite = 0;
  for (const op of operations.slice(0, before))
    if (op.kind === "write" && op.offset >= slotOffset) {
      written = Math.max(written, op.offset + op.length - slotOffset);
      largestWrite = Math.max(largestWrite, op.length);
    }
  return { written, largestWrite };
}

/**
 * Checks a resumed download: it starts at or before the bytes written, and fetches again at most
 * one journal interval plus one network read (the journal is saved between reads).
 */
export function checkResume(
  progress: { written: number; largestWrite: number },
  rangeHeader: string | undefined,
  journalIntervalBytes: number,
): { refetched: number; violation?: string } {
  const m = /^bytes=(\d+)-/.exec(rangeHeader ?? "");
  const start = m ? Number(m[1]) : 0;
  const refetched = progress.written - start;
  if (start > progress.written)
    return {
      refetched,
      violation: `resumed at ${start}, past the ${progress.written} bytes written`,
    };
  const allowed = journalIntervalBytes + progress.largestWrite;
  if (refetched > allowed)
    return {
      refetched,
      violation: `fetched ${refetched} bytes again, more than the ${journalIntervalBytes}-byte journal interval plus one ${progress.largestWrite}-byte read`,
    };
  return { refetched };
}

type Hook = (kind: FlashOperationKind, offset: number, length: number) => number | void;

let activeHook: Hook | undefined;
let installed = false;

/** Makes every FlashFile the device opens report to the active hook (once per process). */
function installFlashHook(): void {
  if (installed) return;
  installed = true;
  const open = FlashFile.open.bind(FlashFile);
  FlashFile.open = (file: string) => {
    const flash = open(file);
    flash.beforeOperation = (kind, _index, offset, length) => activeHook?.(kind, offset, length);
    return flash;
  };
}

function deadError(): Error {
  const error = new Error("the board has no power");
  (error as Error & { powerCut?: boolean }).powerCut = true;
  return error;
}

/** A backend that goes silent once the board is dead: a board without power sends nothing. */
function gated(inner: Backend, dead: () => boolean): Backend {
  return {
    name: inner.name,
    start: (listener) =>
      inner.start({
        offer: (offer) => (dead() ? undefined : listener.offer(offer)),
        cancel: (id, reason) => (dead() ? undefined : listener.cancel(id, reason)),
        connected: () => (dead() ? undefined : listener.connected()),
      }),
    report: (report) => (dead() ? Promise.reject(deadError()) : inner.report(report)),
    stop: () => inner.stop(),
    source: inner.source && ((offer) => inner.source!(offer)),
  };
}

export interface BoardOptions {
  flashPath: string;
  /** A real cloud over MQTT, or an in-process backend (which needs no broker). */
  cloud: DeviceCloud | (() => Backend);
  agent?: Partial<AgentConfig>;
  /** Powers off when it returns true for an event. */
  until?: (event: DeviceEvent, events: DeviceEvent[]) => boolean;
  /** Powers off when it resolves. */
  stop?: Promise<unknown>;
  cut?: PowerCut;
  timeoutMs: number;
}

export async function runBoard(options: BoardOptions): Promise<BoardRun> {
  installFlashHook();
  if (!fs.existsSync(options.flashPath)) throw new Error(`${options.flashPath} is not provisioned`);
  const events: DeviceEvent[] = [];
  const operations: FlashOperation[] = [];
  const run: BoardRun = { events, operations, timedOut: false };
  let dead = false;
  let powerOff!: () => void;
  const off = new Promise<void>((resolve) => (powerOff = resolve));
  // Either way: a stop that rejects (a cloud that never saw a final status) powers off too, and
  // the run counts as timed out rather than crashing the campaign with an unhandled rejection.
  void options.stop?.then(
    () => powerOff(),
    () => powerOff(),
  );
  const timer = setTimeout(() => {
    run.timedOut = true;
    powerOff();
  }, options.timeoutMs);
  const given = options.cloud;
  const cloud: DeviceCloud =
    typeof given === "function"
      ? // An in-process backend does not use MQTT; nothing listens on port 1.
        {
          brokerUrl: "mqtt://127.0.0.1:1",
          identity: { clientId: "campaign" },
          createBackend: given,
        }
      : given;
  let state = "booting";
  let bootCount = 0;
  activeHook = (kind, offset, length) => {
    if (dead) throw deadError();
    const index = operations.length;
    operations.push({ kind, offset, length });
    const cut = options.cut;
    if (!cut || index !== cut.at) return;
    dead = true;
    run.cut = { kind, offset, phase: `boot ${bootCount}: ${state}` };
    powerOff();
    return cut.torn ? Math.floor(length / 2) : 0;
  };
  try {
    await runDevice({
      flashPath: options.flashPath,
      cloud: {
        ...cloud,
        createBackend: (deps) => gated(cloud.createBackend(deps), () => dead),
      },
      agent: {
        backoff: { baseMs: 5, maxMs: 20 },
        selfTestTimeoutMs: 2000,
        // The campaigns' servers are plain http:// on loopback, allowed explicitly.
        allowPlaintext: true,
        ...options.agent,
      },
      watchdogMs: 200,
      powerOff: off,
      onEvent: (event) => {
        if (dead) return;
        if (event.event === "boot") bootCount++;
        if (event.event === "state") state = event.to;
        events.push(event);
        if (options.until?.(event, events)) powerOff();
      },
    });
  } catch (error) {
    if (!dead) run.bricked = String(error);
  } finally {
    clearTimeout(timer);
    activeHook = undefined;
  }
  return run;
}
