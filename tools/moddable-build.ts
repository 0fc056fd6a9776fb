// npm run build:esp32 / build:lin [-- [--legacy-ota] [--run] [mcconfig arguments...]]
// Builds the Moddable app of manifest.json with the Moddable SDK's mcconfig. esp32: a debug build,
// flashed to the board (UPLOAD_PORT). lin: a release build only (`-t build`: the SDK's default
// target would kill every mcsim and serial2xsbug on the machine and send trace() to xsbug), so
// trace() goes to mcsim's stdout; with --run it then starts that mcsim (under xvfb-run when there
// is no DISPLAY) and exits with it. Extra arguments go to mcconfig, e.g. thing=dev-1, -o DIR.
// Without the SDK it says what is missing and exits 1.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SDK = "https://github.com/Moddable-OpenSource/moddable";
const GETTING_STARTED = `${SDK}/blob/public/documentation/Moddable%20SDK%20-%20Getting%20Started.md`;

export type Platform = "esp32" | "lin";

/** The first executable named `name` on PATH. */
function onPath(name: string, searchPath: string): string | undefined {
  for (const directory of searchPath.split(path.delimiter)) {
    if (!directory) continue;
    const candidate = path.join(directory, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** What is missing to build for `platform`, each with how to get it; empty when nothing is. */
export function missing(platform: Platform, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const moddable = env.MODDABLE;
  if (!moddable) {
    problems.push(
      `MODDABLE is not set. Install the Moddable SDK (${SDK}, 8.2 or later; see ${GETTING_STARTED}) ` +
        "and export MODDABLE=<its directory>.",
    );
  } else if (!fs.existsSync(path.join(moddable, "tools", "mcconfig"))) {
    problems.push(`MODDABLE=${moddable} is not a Moddable SDK checkout (no tools/mcconfig in it).`);
  }
  if (!onPath("mcconfig", env.PATH ?? "")) {
    problems.push(
      "mcconfig is not on PATH. Build the SDK tools (cd $MODDABLE/build/makefiles/lin && make) and " +
        "add $MODDABLE/build/bin/lin/release to PATH.",
    );
  }
  if (platform === "esp32" && !env.IDF_PATH) {
    problems.push(
      "IDF_PATH is not set. Install ESP-IDF as the Moddable ESP32 guide says " +
        "(documentation/devices/esp32.md: the version it names, with install.sh and export.sh), " +
        "then source $IDF_PATH/export.sh.",
    );
  }
  return problems;
}

/**
 * mcconfig's arguments: esp32, a debug build that is flashed; lin, a release build that is only
 * built (`-t build`), which launches and kills nothing.
 */
export function mcconfigArguments(platform: Platform, extra: string[]): string[] {
  const manifest = path.join(ROOT, "manifest.json");
  if (platform === "lin") return ["-m", "-p", "lin", "-t", "build", manifest, ...extra];
  return ["-d", "-m", "-p", platform, manifest, ...extra];
}

/**
 * The mc.so a release lin build made: under `-o DIR` (default $MODDABLE/build), bin/lin/.../release/
 * <name>/mc.so, where <name> is the manifest's directory.
 */
export function linApp(moddable: string, extra: string[]): string | undefined {
  const o = extra.indexOf("-o");
  const output = o >= 0 && extra[o + 1] ? path.resolve(extra[o + 1]) : path.join(moddable, "build");
  const name = path.basename(ROOT);
  const search = (directory: string, depth: number): string | undefined => {
    const candidate = path.join(directory, name, "mc.so");
    if (path.basename(directory) === "release" && fs.existsSync(candidate)) return candidate;
    if (depth === 0 || !fs.existsSync(directory)) return undefined;
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const found = search(path.join(directory, entry.name), depth - 1);
      if (found) return found;
    }
    return undefined;
  };
  return search(path.join(output, "bin", "lin"), 3);
}

/** Runs the built lin app in the SDK's mcsim, its stdout line-buffered when stdbuf is there. */
function runLin(moddable: string, app: string): number {
  const mcsim = path.join(moddable, "build", "bin", "lin", "release", "mcsim");
  const searchPath = process.env.PATH ?? "";
  let command = [mcsim, app];
  if (onPath("stdbuf", searchPath)) command = ["stdbuf", "-oL", ...command];
  if (!process.env.DISPLAY) {
    if (!onPath("xvfb-run", searchPath)) {
      console.error("mcsim needs a display: set DISPLAY, or install Xvfb (xvfb-run).");
      return 1;
    }
    command = ["xvfb-run", "-a", ...command];
  }
  console.error(`running ${command.join(" ")}`);
  const result = spawnSync(command[0], command.slice(1), { stdio: "inherit" });
  return result.status ?? 1;
}

function main(argv: string[]): number {
  const platform = argv[0];
  if (platform !== "esp32" && platform !== "lin") {
    console.error("usage: moddable-build.ts esp32|lin [--legacy-ota] [mcconfig arguments...]");
    return 2;
  }
  const rest = argv.slice(1);
  const legacy = rest.includes("--legacy-ota");
  const run = rest.includes("--run");
  const extra = rest.filter((argument) => argument !== "--legacy-ota" && argument !== "--run");
  const problems = missing(platform, process.env);
  if (problems.length > 0) {
    console.error(`Cannot build otaflow for ${platform}:`);
    for (const problem of problems) console.error(`  - ${problem}`);
    return 1;
  }
  const env = { ...process.env };
  // manifest_slot_ota.json instead of manifest_slot_update.json (hosts/esp32/manifest.json).
  if (legacy) env.OTAFLOW_SLOT = "ota";
  const result = spawnSync("mcconfig", mcconfigArguments(platform, extra), {
    cwd: ROOT,
    env,
    stdio: "inherit",
  });
  if (result.error) {
    console.error(`mcconfig did not run: ${result.error.message}`);
    return 1;
  }
  if (result.status !== 0 || platform !== "lin") return result.status ?? 1;
  const app = linApp(env.MODDABLE!, extra);
  if (!app) {
    console.error("mcconfig succeeded but its mc.so was not found");
    return 1;
  }
  if (!run) {
    console.error(`built ${app}; start it with: mcsim ${app} (npm run build:lin -- --run ...)`);
    return 0;
  }
  return runLin(env.MODDABLE!, app);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
