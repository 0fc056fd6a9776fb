// npm run build:esp32 / build:lin (tools/moddable-build.ts): a clear list of what is missing, with
// how to get it, without the SDK, and mcconfig arguments that never run the SDK's default lin target
// (it kills every mcsim on the machine). The build itself is checked with the real SDK
// (hosts/lin/README.md); test/hosts/moddable-manifest.test.ts checks what xsl would refuse.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { mcconfigArguments } from "../../tools/moddable-build";

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

/** A directory that looks like a Moddable SDK checkout, and a bin directory with an mcconfig. */
function sdkLike(): { moddable: string; bin: string } {
  const moddable = fs.mkdtempSync(path.join(scratch, "sdk-"));
  fs.mkdirSync(path.join(moddable, "tools", "mcconfig"), { recursive: true });
  const bin = path.join(moddable, "bin");
  fs.mkdirSync(bin);
  // Never run: the checks before mcconfig only look for it on PATH.
  fs.writeFileSync(path.join(bin, "mcconfig"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  return { moddable, bin };
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
    const { bin } = sdkLike();
    const result = build(["lin"], { PATH: bin, MODDABLE: scratch });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /MODDABLE=.* is not a Moddable SDK checkout/);
  });

  it("builds lin with -t build in release: no launch, nothing killed, trace on stdout", () => {
    const manifest = path.join(ROOT, "manifest.json");
    assert.deepEqual(mcconfigArguments("lin", ["thing=dev-1"]), [
      "-m",
      "-p",
      "lin",
      "-t",
      "build",
      manifest,
      "thing=dev-1",
    ]);
    assert.deepEqual(mcconfigArguments("esp32", []), ["-d", "-m", "-p", "esp32", manifest]);
  });
});
