// The part of the harness that runs inside the engine under test (XS, and Node for comparison),
// bundled together with the case modules. It runs the cases, gives them a deterministic Clock
// whose timers fire when the engine is otherwise idle (virtual time: both engines see the same
// order of events), and a synchronous call to the Node side for reference values.

import type { Clock, TimerHandle } from "../../src/core/ports";
import { utf8Decode, utf8Encode } from "../../src/core/util/bytes";

/** A case returns a JSON-serialisable value, which must be the same in both engines. */
export type Case = () => unknown;
export type Cases = Record<string, Case>;

/** What the driver learns after each command, once the engine has run out of work. */
export type CaseStatus =
  | { state: "done"; result: string }
  | { state: "failed"; error: string }
  | { state: "waiting"; timers: number };

/** A command from the driver. */
export type Command = { op: "list" } | { op: "start"; name: string } | { op: "tick" };

interface EngineGlobals {
  /** XS and Node both have them; declared here because the hosts' tsconfig has no DOM types. */
  TextEncoder: new () => { encode(text: string): Uint8Array };
  TextDecoder: new () => { decode(bytes: Uint8Array): string };
  /** XS: a synchronous message to the Node side. */
  issueCommand?: (message: ArrayBuffer) => ArrayBuffer;
  /** XS: receives the driver's commands. */
  handleCommand?: (message: ArrayBuffer) => { readonly result: ArrayBuffer };
  /** Node: the same synchronous call, given to the vm context by the driver. */
  hostCall?: (request: string) => string;
  /** Node: how the driver reaches this runtime. */
  xsHarness?: { command(json: string): string; status(): string };
}

const engine = globalThis as unknown as EngineGlobals;

/** Throws unless `condition` holds. */
export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** Throws unless `actual === expected`. */
export function checkEqual<T>(actual: T, expected: T, label: string): void {
  if (actual !== expected) {
    throw new Error(`${label}: got ${String(actual)}, expected ${String(expected)}`);
  }
}

/** Calls an operation on the Node side of the harness (see HOST_OPERATIONS in engine.ts). */
export function host<T>(operation: string, argument: unknown): T {
  const request = JSON.stringify({ operation, argument });
  let reply: string;
  if (engine.hostCall) reply = engine.hostCall(request);
  else if (engine.issueCommand) {
    // xsnap has TextEncoder/TextDecoder: the core's byte-at-a-time codec is quadratic on XS's
    // UTF-8 strings, too slow for large messages.
    const bytes = new engine.TextEncoder().encode(request);
    const buffer = new ArrayBuffer(bytes.length);
    new Uint8Array(buffer).set(bytes);
    reply = new engine.TextDecoder().decode(new Uint8Array(engine.issueCommand(buffer)));
  } else throw new Error("no host to call");
  const parsed = JSON.parse(reply) as { value?: T; error?: string };
  if (parsed.error !== undefined) throw new Error(`host ${operation}: ${parsed.error}`);
  return parsed.value as T;
}

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

let virtualNow = 0;
let nextTimerId = 1;
let timers: Timer[] = [];
let randomState = 0;

/**
 * The Clock port with virtual time: timers fire in order of due time when every promise has
 * settled, and `now()` jumps to the due time of the timer being fired. `random()` is a seeded
 * xorshift, the same in both engines.
 */
export const clock: Clock = {
  now: () => virtualNow,
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer = { id: nextTimerId++, at: virtualNow + Math.max(0, ms), callback };
    timers.push(timer);
    return timer.id;
  },
  clearTimeout(handle: TimerHandle): void {
    timers = timers.filter((timer) => timer.id !== handle);
  },
  random(): number {
    randomState ^= randomState << 13;
    randomState ^= randomState >>> 17;
    randomState ^= randomState << 5;
    return (randomState >>> 0) / 4294967296;
  },
};

/** Fires the earliest timers (all those due at the same instant). */
function fireNextTimers(): void {
  if (timers.length === 0) return;
  let at = timers[0].at;
  for (const timer of timers) at = Math.min(at, timer.at);
  const due = timers.filter((timer) => timer.at === at).sort((a, b) => a.id - b.id);
  timers = timers.filter((timer) => timer.at !== at);
  virtualNow = at;
  for (const timer of due) timer.callback();
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.message}${error.stack ? `\n${error.stack}` : ""}`;
  return String(error);
}

/** Registers the case modules, by name, and answers the driver. */
export function install(modules: Record<string, Cases>): void {
  let current: CaseStatus = { state: "failed", error: "no case started" };

  const start = (name: string): void => {
    const slash = name.indexOf("/");
    const module = modules[name.slice(0, slash)];
    const run = module ? module[name.slice(slash + 1)] : undefined;
    if (!run) {
      current = { state: "failed", error: `no case ${name}` };
      return;
    }
    virtualNow = 0;
    timers = [];
    randomState = 0x9e3779b9;
    current = { state: "waiting", timers: 0 };
    const settle = (value: unknown) => {
      current = { state: "done", result: JSON.stringify(value === undefined ? null : value) };
    };
    const fail = (error: unknown) => {
      current = { state: "failed", error: describeError(error) };
    };
    try {
      Promise.resolve(run()).then(settle, fail);
    } catch (error) {
      fail(error);
    }
  };

  const command = (json: string): string => {
    const message = JSON.parse(json) as Command;
    if (message.op === "list") {
      const names: string[] = [];
      for (const module of Object.keys(modules)) {
        for (const name of Object.keys(modules[module])) names.push(`${module}/${name}`);
      }
      return JSON.stringify(names);
    }
    if (message.op === "start") start(message.name);
    else fireNextTimers();
    return "";
  };

  const status = (): string => {
    if (current.state === "waiting") current = { state: "waiting", timers: timers.length };
    return JSON.stringify(current);
  };

  engine.xsHarness = { command, status };
  engine.handleCommand = (message: ArrayBuffer) => {
    const reply = command(utf8Decode(new Uint8Array(message)));
    // xsnap reads `result` after the engine has run every pending job, so a started case has
    // gone as far as it can by then.
    return {
      get result(): ArrayBuffer {
        const bytes = utf8Encode(reply || status());
        const buffer = new ArrayBuffer(bytes.length);
        new Uint8Array(buffer).set(bytes);
        return buffer;
      },
    };
  };
}
