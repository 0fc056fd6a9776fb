// The API reference builds from src/index.ts without a warning (typedoc.json sets
// treatWarningsAsErrors: an exported type that refers to one left out, or a broken {@link}, fails
// the build), and documents the public API and nothing internal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TYPEDOC = path.join(ROOT, "node_modules/typedoc/bin/typedoc");

test("the API reference builds without warnings and documents the public API", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-api-"));
  try {
    const json = path.join(out, "api.json");
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [TYPEDOC, "--out", path.join(out, "html"), "--json", json],
      { cwd: ROOT },
    );
    assert.doesNotMatch(stdout + stderr, /warning|error/i);
    const names = (
      JSON.parse(fs.readFileSync(json, "utf8")) as { children: { name: string }[] }
    ).children.map((child) => child.name);
    for (const name of [
      "Agent",
      "HostPorts",
      "Backend",
      "createAwsBackend",
      "checkConfig",
      "otaError",
    ])
      assert.ok(names.includes(name), `${name} is documented`);
    // Internals stay out of the reference.
    for (const name of ["transfer", "Journal", "StateMachine", "decide"])
      assert.ok(!names.includes(name), `${name} is not public`);
    assert.ok(fs.existsSync(path.join(out, "html", "index.html")));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
