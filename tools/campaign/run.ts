// The reliability campaign: `npm run campaign` runs every part at full size and writes
// docs/RELIABILITY.md. Each part saves its figures to tools/campaign/results/<part>.json, and the
// document is rendered from every result present, so parts can run apart (in parallel processes):
//   npm run campaign -- --parts powercut,fuzz      run two parts, then render
//   npm run campaign -- --render                   render from the saved results only
//   npm run campaign -- --runs 200 --chaos-runs 50 fewer random runs per backend
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as prettier from "prettier";
import { backendPowerCuts } from "./backend-cuts";
import { networkChaos } from "./chaos";
import { FUZZ_TARGETS } from "./fuzz";
import { runHoles } from "./holes/index";
import { runHostile } from "./hostile";
import { loadTest } from "./load";
import { powerCutSweep } from "./powercut";
import { renderReport } from "./report";
import { sigkillCuts } from "./sigkill";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const RESULTS = path.join(HERE, "results");
const DOCUMENT = path.join(HERE, "..", "..", "docs", "RELIABILITY.md");
const BACKENDS = ["aws", "thingsboard", "tencent"] as const;

interface Settings {
  runs: number;
  chaosRuns: number;
  sigkillRuns: number;
  fuzzCases: number;
  seed: number;
  devices: number;
  holesRuns: number;
}

const PARTS: Record<string, (s: Settings) => Promise<unknown>> = {
  async powercut() {
    const sweeps = [];
    for (const [imageSize, journalIntervalBytes] of [
      [256 * 1024, 16 * 1024],
      [1024 * 1024, 64 * 1024],
    ]) {
      const summary = await powerCutSweep({ imageSize, journalIntervalBytes, torn: true });
      sweeps.push({ ...summary, cases: summary.cases.length });
      progress(
        `power cuts, ${imageSize} bytes: ${summary.cases.length} cuts, ${summary.violations.length} violations`,
      );
    }
    return sweeps;
  },
  async "backend-cuts"(s) {
    const out = [];
    for (const backend of BACKENDS) {
      const summary = await backendPowerCuts({
        backend,
        runs: s.runs,
        seed: s.seed,
        imageSize: 256 * 1024,
      });
      out.push(summary);
      progress(`${backend} power cuts: ${s.runs} runs, ${summary.violations.length} violations`);
    }
    return out;
  },
  async sigkill(s) {
    // Operations drawn below 36: about one update's flash traffic for the CLI device (64 KiB journal).
    return sigkillCuts({ runs: s.sigkillRuns, seed: s.seed, operations: 36 });
  },
  async hostile() {
    return runHostile();
  },
  async fuzz(s) {
    const out = [];
    for (const [name, fuzz] of Object.entries(FUZZ_TARGETS)) {
      const started = Date.now();
      const figure = await fuzz(s.fuzzCases, s.seed);
      out.push({ ...figure, ms: Date.now() - started });
      progress(
        `fuzz ${name}: ${s.fuzzCases} cases${figure.failure ? `, FAILED: ${figure.failure}` : ""}`,
      );
    }
    return out;
  },
  async chaos(s) {
    const out = [];
    for (const backend of BACKENDS) {
      const summary = await networkChaos({
        backend,
        runs: s.chaosRuns,
        seed: s.seed,
        imageSize: 192 * 1024,
        boundMs: 60_000,
      });
      out.push({ ...summary, runs: summary.runs.length });
      progress(
        `${backend} chaos: ${summary.runs.length} runs, ${summary.violations.length} violations`,
      );
    }
    return out;
  },
  async holes(s) {
    return runHoles(s.holesRuns, progress);
  },
  async load(s) {
    return loadTest({ devices: s.devices, imageSize: 128 * 1024, timeoutMs: 120_000 });
  },
};

function progress(line: string): void {
  process.stderr.write(`campaign: ${line}\n`);
}

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv[at + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const settings: Settings = {
    runs: Number(option(argv, "runs") ?? 1000),
    chaosRuns: Number(option(argv, "chaos-runs") ?? 200),
    sigkillRuns: Number(option(argv, "sigkill-runs") ?? 100),
    fuzzCases: Number(option(argv, "fuzz-cases") ?? 100_000),
    seed: Number(option(argv, "seed") ?? 20261122),
    devices: Number(option(argv, "devices") ?? 200),
    holesRuns: Number(option(argv, "holes-runs") ?? 20),
  };
  const parts = argv.includes("--render")
    ? []
    : (option(argv, "parts")?.split(",") ?? Object.keys(PARTS));
  // Load measures the process's memory growth: it runs first, before other parts have grown it.
  parts.sort((a, b) => Number(b === "load") - Number(a === "load"));
  fs.mkdirSync(RESULTS, { recursive: true });
  for (const part of parts) {
    const run = PARTS[part];
    if (!run) throw new Error(`no part "${part}"; parts: ${Object.keys(PARTS).join(", ")}`);
    const started = Date.now();
    const figures = await run(settings);
    const result = {
      part,
      settings,
      command: commandFor(part, settings),
      finishedAt: new Date().toISOString(),
      ms: Date.now() - started,
      node: process.version,
      figures,
    };
    const file = path.join(RESULTS, `${part}.json`);
    fs.writeFileSync(file, await formatted(file, JSON.stringify(result, null, 2)));
    progress(`${part} done in ${Math.round(result.ms / 1000)} s`);
  }
  const saved = Object.keys(PARTS).flatMap((part) => {
    const file = path.join(RESULTS, `${part}.json`);
    return fs.existsSync(file) ? [JSON.parse(fs.readFileSync(file, "utf8"))] : [];
  });
  fs.writeFileSync(DOCUMENT, await formatted(DOCUMENT, renderReport(saved)));
  progress(`wrote ${path.relative(process.cwd(), DOCUMENT)}`);
}

/** As `npm run lint` wants the file (the repository's Prettier settings). */
async function formatted(file: string, text: string): Promise<string> {
  const config = await prettier.resolveConfig(file);
  return prettier.format(text, { ...config, filepath: file });
}

function commandFor(part: string, s: Settings): string {
  const flags = [`--parts ${part}`, `--seed ${s.seed}`];
  if (part === "backend-cuts") flags.push(`--runs ${s.runs}`);
  if (part === "chaos") flags.push(`--chaos-runs ${s.chaosRuns}`);
  if (part === "sigkill") flags.push(`--sigkill-runs ${s.sigkillRuns}`);
  if (part === "fuzz") flags.push(`--fuzz-cases ${s.fuzzCases}`);
  if (part === "load") flags.push(`--devices ${s.devices}`);
  if (part === "holes") flags.push(`--holes-runs ${s.holesRuns}`);
  return `npm run campaign -- ${flags.join(" ")}`;
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
