// The simulator's update time over loopback against a GET + MD5 + file write of the same image
// from the same server, and where the agent's time goes (simulator-workload.ts, in a fresh Node
// process each, away from the SES lockdown the XS sections install in this one).

import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { ChecksAlone, HotFunction, Timings } from "./simulator-workload";
import { runsFor } from "./simulator-workload";
import { figure, inFreshNode, MiB } from "./section";
import { DEFAULT_CONFIG } from "../../src/core/agent/agent";

const here = path.dirname(fileURLToPath(import.meta.url));
const workload = path.join(here, "simulator-workload.ts");

export const title = "Simulator update time over loopback";

const TARGET = 1.25;
const TOP = 14;

const CASES = [
  { name: "device 4 MiB", label: "whole device (`runDevice`), ESP32, 16 MiB flash" },
  { name: "device 64 MiB", label: "whole device (`runDevice`), ESP32-S3, 256 MiB flash" },
  { name: "agent 4 MiB", label: "agent alone, simulator ports, ESP32, 16 MiB flash" },
  { name: "agent 64 MiB", label: "agent alone, simulator ports, ESP32-S3, 256 MiB flash" },
  { name: "one thread 4 MiB", label: "agent alone as above, every hash on its main thread" },
  { name: "one thread 64 MiB", label: "agent alone as above, every hash on its main thread" },
];

const ms = (value: number) => `${figure(value)} ms`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** "median (lowest–highest)" of a row's runs. */
function spread(values: number[], format: (value: number) => string): string {
  return `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

function profileTable(name: string): string[] {
  const { ms: total, hot } = inFreshNode(workload, [name])[name] as {
    ms: number;
    hot: HotFunction[];
  };
  const sampled = hot.reduce((sum, entry) => sum + entry.ms, 0);
  return [
    `Offer to staged under the profiler: ${ms(total)}; the ${TOP} largest of ${hot.length} entries:`,
    "",
    "| where (innermost function of this repository) | ms | share | of which in native or Node code |",
    "|---|--:|--:|--:|",
    ...hot
      .slice(0, TOP)
      .map(
        (entry) =>
          `| ${entry.where} | ${figure(entry.ms)} | ${figure((100 * entry.ms) / sampled, 2)} % | ${figure(entry.belowMs)} |`,
      ),
  ];
}

/** The checks' table, and what they add to the baseline together (0.3 for 30 %). */
function checksTable(name: string): { lines: string[]; added: number } {
  const checks = inFreshNode(workload, [name])[name] as ChecksAlone;
  const size = `${checks.size / MiB} MiB`;
  const sum = checks.erase + checks.verify + checks.journal;
  const share = (value: number) => `${figure((100 * value) / checks.baseline, 2)} %`;
  const row = (what: string, value: number) => `| ${what} | ${figure(value)} | ${share(value)} |`;
  return {
    added: sum / checks.baseline,
    lines: [
      `| ${size}, each alone (best of ${runsFor(checks.size)}) | ms | of the baseline (${ms(checks.baseline)}) |`,
      "|---|--:|--:|",
      row("erasing the image's sectors (0xFF written ahead of the data)", checks.erase),
      row(
        "esp_ota_end: `verifyAppImage` reading the slot back, its SHA-256 on the hash worker",
        checks.verify,
      ),
      row(`the journal's ${checks.journalWrites} writes of the resume offset`, checks.journal),
      row("together", sum),
      row("(esp_ota_end with its SHA-256 on the main thread instead)", checks.verifyOneThread),
    ],
  };
}

export async function run(): Promise<string> {
  const rows: string[] = [];
  const verdicts: string[] = [];
  const checks = checksTable("checks 64 MiB");
  const budget = TARGET - 1;
  for (const { name, label } of CASES) {
    const timing = inFreshNode(workload, [name])[name] as Timings;
    // Each run's agent time over the baseline run just before it: the two saw the same machine.
    const ratios = timing.staged.map((staged, i) => staged / timing.baseline[i]);
    const ratio = median(ratios);
    const size = `${timing.size / MiB} MiB`;
    const times = (values: number[]) => (values.length ? spread(values, figure) : "–");
    rows.push(
      `| ${label} | ${size} | ${times(timing.baseline)} | ${times(timing.staged)} | ${spread(ratios, (value) => `${figure(value, 3)}×`)} | ${times(timing.confirmed)} |`,
    );
    const met =
      ratio <= TARGET
        ? "target met"
        : `target NOT met, by ${figure((ratio / TARGET - 1) * 100, 2)} %`;
    verdicts.push(`${label}, ${size}: offer to staged ${figure(ratio, 3)}× the baseline (${met}).`);
  }
  return [
    "The baseline is what any updater does at least, with the agent's means: one HTTP GET of the",
    "image from the same firmware server (tools/fwserver, in the same process, loopback), Node's",
    "native MD5 over the body through the simulator's digests (hosts/node/digests.ts: on the hash",
    "worker in the first four rows, on the main thread in the last two, as the agent's), a",
    "synchronous write of each piece to a file and an fdatasync of it on libuv's pool every MiB",
    "and at the end, as the simulator's slot does. Against it, from",
    "the moment the cloud's offer (MD5 given) reaches the agent to the moment the image is staged",
    "(state event with cause `staged`: downloaded, hashed, image-checked, otadata switched):",
    "",
    "- whole device: `runDevice` (hosts/node/device.ts) booting a flash file with the factory",
    "  image, a cloud reduced to its contract (test/support/scripted-cloud.ts), and on to the",
    "  confirmation by the new image after the in-process reboot (bootloader, self-test, confirm);",
    "- agent alone: the `Agent` with the ports `runDevice` gives it (flash slot writer, boot",
    "  control, key-value store in the flash file, Node HTTP client, timers, Node's crypto as its",
    "  `nativeDigests` as hosts/node/digests.ts gives them); up to staged only.",
    "",
    "Both on an ESP32 with a 16 MiB flash for 4 MiB, and on an ESP32-S3 with a 256 MiB flash",
    "(`runDevice`'s `chip` option, hosts/node/bootloader.ts `ESP32_S3`) for 64 MiB, since an",
    "ESP32's slots may not exceed 16 MiB.",
    "",
    "What the agent does beyond the baseline: it erases each sector before it writes it (NOR",
    "flash), writes the journal every " +
      `${DEFAULT_CONFIG.journalIntervalBytes / 1024} KiB of image (at most 256 times: every size/256 above`,
    `${(256 * DEFAULT_CONFIG.journalIntervalBytes) / 1048576} MiB), checks the image header as soon as its first`,
    "288 bytes are in (chip, version, project, secure version), and has the slot's `finish`",
    "read the whole image back and verify it as ESP-IDF's esp_ota_end does (structure, checksum",
    "byte, appended SHA-256). The image is verified once: the core skips its streaming verifier",
    "when the slot says it verifies (`SlotWriter.verifiesImage`). The simulator's digests run on a",
    "worker thread (hosts/node/digests.ts), as a board's SHA peripheral hashes beside its CPU",
    "while the network runs on the other core: the MD5 of the stream and the SHA-256 of the",
    "read-back. The last two rows run every hash, the agent's and the baseline's, on the main",
    "thread: equal work on one thread.",
    "",
    `${runsFor(4 * MiB)} runs for 4 MiB and ${runsFor(64 * MiB)} for 64 MiB after a warm-up, each agent run right after a baseline`,
    "run, in a fresh Node process per row (tools/bench/simulator-workload.ts). Each cell is the",
    "median and, in brackets, the lowest and highest run; the ratio is the median of each agent",
    "run over the baseline run before it. Wall-clock figures: they depend on the load of the",
    "machine (stated with the date above).",
    "",
    "| what runs | image | baseline (GET + MD5 + write + flush), ms | offer → staged, ms | staged / baseline | offer → confirmed, ms |",
    "|---|--:|--:|--:|--:|--:|",
    ...rows,
    "",
    ...verdicts.map((line) => `- ${line}`),
    "",
    "### What the agent's checks cost alone",
    "",
    "Each part of the agent's work beyond the baseline's GET, MD5 and write, timed apart from any",
    "download, in the same process and on the same image:",
    "",
    ...checks.lines,
    "",
    "### Where the agent's time goes (64 MiB)",
    "",
    "V8's CPU profiler (as `node --cpu-prof`, through `node:inspector`, sampling every 100 µs)",
    "over one agent run from the offer to staged, on the main thread (the hash worker's time is",
    "not in it); each sample goes to the innermost function of this repository on its stack, so",
    "that the fs and crypto work a function asks for counts with it. Entries without a file are",
    "samples with no frame of this repository (the firmware server's socket and file work, the",
    "garbage collector, idle time waiting for I/O or for the hash worker); `profiledRun` is the",
    "profiler's own start and stop.",
    "",
    ...profileTable("profile agent 64 MiB"),
    "",
    "Reading the profile:",
    "",
    "- The functions of hosts/node/digests.ts (`update`, `wait` and the anonymous ones) are this",
    "  thread's part of the hashing: copying the bytes into the worker's batches, handing them",
    "  over, and waiting when the worker is 8 MiB behind or has not finished a digest.",
    "- `loadImage` and `xorBytes` (hosts/node/bootloader.ts) are esp_ota_end's read-back: the",
    "  slot's bytes and their XOR checksum, a 32-bit word at a time in four lanes.",
    "  esp_ota_set_boot_partition verifies the slot again on a board; here it takes esp_ota_end's",
    "  verdict, because the flash file drops a remembered verdict as soon as an erase or a write",
    "  touches the partition.",
    "- `write`, `erase` and `readInto` (hosts/node/flash.ts) are the slot's bytes and their 0xFF",
    "  erase. A write checks the NOR rule (no 1 bit over a 0) a 32-bit word at a time against",
    "  the bytes it reads back, except where the flash file itself erased the bytes and nothing",
    "  has written them since (the slot writer's case), which hold 0xFF.",
    `- The agent's journal (\`save\`, the key-value store) writes every ${DEFAULT_CONFIG.journalIntervalBytes / 1024} KiB of image, or size/256 if larger.`,
    `- The target of ${TARGET}× leaves ${figure(100 * budget, 2)} % of the baseline for all of the agent's work;`,
    `  its parts beyond the baseline add ${figure(100 * checks.added, 2)} % timed alone (previous table). The agent`,
    "  shares its means with the baseline: the same hash worker (or the same single thread) and",
    "  the same background flushes.",
  ].join("\n");
}
