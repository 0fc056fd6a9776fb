// npm run build:esp32 / build:lin (tools/moddable-build.ts): mcconfig with the right arguments when
// the Moddable SDK is there, and a clear list of what is missing, with how to get it, when not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCRIPT = path.join(ROOT, "tools", "moddable-build.ts");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-build-"));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function build(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...args], {
    cwd: ROOT,
    env: { HOME: os.homedir(), ...env },
    encoding: "utf8",
  });
  return { status: result.status, stderr: result.stderr };
}

/** A directory that looks like a Moddable SDK, and a bin directory with an mcconfig that logs. */
function fakeSdk(exitCode: number): { moddable: string; bin: string; log: string } {
  const moddable = fs.mkdtempSync(path.join(scratch, "sdk-"));
  fs.mkdirSync(path.join(moddable, "tools", "mcconfig"), { recursive: true });
  const bin = path.join(moddable, "bin");
  fs.mkdirSync(bin);
  const log = path.join(moddable, "mcconfig.log");
  fs.writeFileSync(
    path.join(bin, "mcconfig"),
    `#!/bin/sh\nprintf '%s\\n' "cwd=$PWD" "slot=$OTAFLOW_SLOT" "$@" > '${log}'\nexit ${exitCode}\n`,
    { mode: 0o755 },
  );
  return { moddable, bin, log };
}

describe("moddable-build", () => {
  it("says what is missing, and how to get it, without the SDK", () => {
    const empty = fs.mkdtempSync(path.join(scratch, "path-"));
    const esp32 = build(["esp32"], { PATH: empty });
    assert.equal(esp32.status, 1);
    assert.match(esp32.stderr, /Cannot build otaflow for esp32:/);
    assert.match(
      esp32.stderr,
      /MODDABLE is not set\. Install the Moddable SDK \(https:\/\/github\.com\/Moddable-OpenSource\/moddable/,
    );
    assert.match(
      esp32.stderr,
      /mcconfig is not on PATH\. .*add \$MODDABLE\/build\/bin\/lin\/release to PATH/,
    );
    assert.match(esp32.stderr, /IDF_PATH is not set\. Install ESP-IDF/);
    const lin = build(["lin"], { PATH: empty });
    assert.equal(lin.status, 1);
    assert.doesNotMatch(lin.stderr, /IDF_PATH/);
  });

  it("refuses a MODDABLE that is not an SDK checkout", () => {
    const { bin } = fakeSdk(0);
    const result = build(["lin"], { PATH: bin, MODDABLE: scratch });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /MODDABLE=.* is not a Moddable SDK checkout/);
  });

  it("runs mcconfig -d -m -p <platform> on manifest.json with the extra arguments", () => {
    const sdk = fakeSdk(0);
    const result = build(["esp32", "ssid=home", "thing=dev-1"], {
      PATH: sdk.bin,
      MODDABLE: sdk.moddable,
      IDF_PATH: scratch,
    });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(fs.readFileSync(sdk.log, "utf8").trim().split("\n"), [
      `cwd=${ROOT}`,
      "slot=",
      "-d",
      "-m",
      "-p",
      "esp32",
      path.join(ROOT, "manifest.json"),
      "ssid=home",
      "thing=dev-1",
    ]);
  });

  it("selects the legacy ota slot with --legacy-ota, and passes mcconfig's failure on", () => {
    const sdk = fakeSdk(3);
    const result = build(["esp32", "--legacy-ota"], {
      PATH: sdk.bin,
      MODDABLE: sdk.moddable,
      IDF_PATH: scratch,
    });
    assert.equal(result.status, 3);
    const lines = fs.readFileSync(sdk.log, "utf8").trim().split("\n");
    assert.equal(lines[1], "slot=ota");
    assert.ok(!lines.includes("--legacy-ota"));
  });
});
