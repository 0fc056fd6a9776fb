// What a benchmark section is, and small helpers shared by the sections.

import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** A section of docs/BENCHMARKS.md: `run` measures and returns its markdown. */
export interface BenchSection {
  title: string;
  run(): Promise<string>;
}

export const MiB = 1024 * 1024;

/** Throughput in MiB/s, from bytes and milliseconds. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}

/** A number with `digits` significant digits, for tables. */
export function figure(value: number, digits = 3): string {
  return Number(value.toPrecision(digits)).toString();
}

/**
 * Runs cases of a module (its default export, an object of cases) in a fresh Node process with
 * tools/bench/node-worker.ts, and returns their results by name.
 */
export function inFreshNode(modulePath: string, names: string[]): Record<string, unknown> {
  const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), "node-worker.ts");
  const output = execFileSync(
    process.execPath,
    ["--import", "tsx", "--expose-gc", worker, modulePath, ...names],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(output) as Record<string, unknown>;
}
