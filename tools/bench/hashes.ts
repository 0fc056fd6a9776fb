// Throughput of the portable MD5, SHA-256 and CRC32 in Node and in XS, against spark-md5 run in
// the same engine and against Node's native crypto and zlib.

import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCases, openXs } from "../../test/xs/engine";
import { CHUNK, RUNS, SIZE } from "./hash-workload";
import { figure, inFreshNode, MiB, mibPerSecond } from "./section";

const here = path.dirname(fileURLToPath(import.meta.url));
const workload = path.join(here, "hash-workload.ts");
const CASES = ["spark-md5", "md5", "sha256", "crc32"];
const ALGORITHMS = [
  ["md5", "MD5"],
  ["sha256", "SHA-256"],
  ["crc32", "CRC32"],
] as const;

interface Timing {
  ms: number;
  hex: string;
}

/** The workload cases bundled into xsnap, with the intrinsics frozen as on a device. */
async function inXs(): Promise<Record<string, Timing>> {
  const xs = await openXs(await bundleCases([{ name: "hashes", file: workload }]), "otaflow-bench");
  const results: Record<string, Timing> = {};
  try {
    for (const name of CASES) {
      const outcome = await xs.run(`hashes/${name}`, 600_000);
      if (!outcome.ok) throw new Error(`XS ${name}: ${outcome.error}`);
      results[name] = JSON.parse(outcome.result) as Timing;
    }
  } finally {
    await xs.close();
  }
  return results;
}

export const title = "Hash throughput";

export async function run(): Promise<string> {
  const native = inFreshNode(path.join(here, "hash-native.ts"), [
    "md5",
    "sha256",
    "crc32",
  ]) as Record<string, Timing>;
  const engines = [
    { label: "Node (V8)", timings: inFreshNode(workload, CASES) as Record<string, Timing> },
    { label: "XS (xsnap)", timings: await inXs() },
  ];
  const speed = (timing: Timing) => figure(mibPerSecond(SIZE, timing.ms));
  const rows: string[] = [];
  const verdicts: string[] = [];
  for (const { label, timings } of engines) {
    const spark = timings["spark-md5"];
    if (spark.hex !== native.md5.hex) throw new Error(`${label} spark-md5 gave ${spark.hex}`);
    for (const [name, title] of ALGORITHMS) {
      const ours = timings[name];
      if (ours.hex !== native[name].hex) {
        throw new Error(`${label} ${title} gave ${ours.hex}, Node's native ${native[name].hex}`);
      }
      const nativeHere = label.startsWith("Node") ? native[name] : undefined;
      const sparkHere = name === "md5" ? spark : undefined;
      rows.push(
        [
          label,
          title,
          speed(ours),
          sparkHere ? speed(sparkHere) : "–",
          nativeHere ? speed(nativeHere) : "–",
          sparkHere ? figure(sparkHere.ms / ours.ms, 2) : "–",
          nativeHere ? figure(nativeHere.ms / ours.ms, 2) : "–",
        ].join(" | "),
      );
      if (sparkHere) {
        const ratio = sparkHere.ms / ours.ms;
        const verdict = ratio >= 1 ? "target met" : "target NOT met";
        verdicts.push(`${label}: our MD5 is ${figure(ratio, 2)}× spark-md5 (${verdict}).`);
      }
    }
  }
  return [
    `Data: ${SIZE / MiB} MiB of pseudo-random bytes fed in ${CHUNK / 1024} KiB chunks; each figure is`,
    `the best of ${RUNS} runs after a warm-up run. Ours and spark-md5 run the same code,`,
    "tools/bench/hash-workload.ts: in a fresh Node process as it is, and bundled (esbuild, iife,",
    "es2022) into xsnap with the intrinsics frozen as in a Moddable app. Node's native figures are",
    "`crypto.createHash` and `zlib.crc32` over the same chunks (tools/bench/hash-native.ts).",
    "Ratios are throughput ratios within the same run (above 1: ours is faster).",
    "",
    "| engine | hash | ours (MiB/s) | spark-md5 (MiB/s) | Node native (MiB/s) | ours / spark-md5 | ours / native |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((row) => `| ${row} |`),
    "",
    ...verdicts.map((line) => `- ${line}`),
  ].join("\n");
}
