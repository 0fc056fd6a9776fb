// npm run build:esp32 / build:lin [-- [--legacy-ota] [mcconfig arguments...]]
// Builds the Moddable app of manifest.json with the Moddable SDK's mcconfig: for esp32 it also
// flashes the board (UPLOAD_PORT), for lin it starts the simulator. Extra arguments go to mcconfig,
// e.g. ssid=... password=... thing=dev-1. Without the SDK it says what is missing and exits 1.
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

/** mcconfig's arguments for a debug build that is made and deployed (flashed or simulated). */
export function mcconfigArguments(platform: Platform, extra: string[]): string[] {
  return ["-d", "-m", "-p", platform, path.join(ROOT, "manifest.json"), ...extra];
}

function main(argv: string[]): number {
  const platform = argv[0];
  if (platform !== "esp32" && platform !== "lin") {
    console.error("usage: moddable-build.ts esp32|lin [--legacy-ota] [mcconfig arguments...]");
    return 2;
  }
  const rest = argv.slice(1);
  const legacy = rest.includes("--legacy-ota");
  const extra = rest.filter((argument) => argument !== "--legacy-ota");
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
  return result.status ?? 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
