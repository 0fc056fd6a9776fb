// Guards for the Moddable build that need no SDK: manifest.json, resolved as mcconfig does for each
// platform and slot writer, maps every module its modules import (xsl refuses the link otherwise,
// "module ... not found"), and no mapped module names an identifier `xsc -c` reads as a host
// function declaration.
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import {
  isPreloaded,
  resolveManifest,
  unmappedImports,
  xscReservedIdentifiers,
} from "../../tools/moddable-manifest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const MANIFEST = path.join(ROOT, "manifest.json");

const BUILDS: { name: string; platform: string; env: Record<string, string> }[] = [
  { name: "esp32 (embedded:update)", platform: "esp32", env: {} },
  { name: "esp32 (legacy ota)", platform: "esp32", env: { OTAFLOW_SLOT: "ota" } },
  { name: "lin", platform: "lin", env: {} },
];

describe("manifest.json as mcconfig resolves it", () => {
  for (const build of BUILDS) {
    describe(build.name, () => {
      const manifest = resolveManifest(MANIFEST, build.platform, build.env);

      it("resolves without errors, every entry matching a file", () => {
        assert.deepEqual(manifest.errors, []);
      });

      it("maps every module that a mapped module imports", () => {
        assert.deepEqual(unmappedImports(manifest), []);
      });

      it("names no identifier native or Native in a mapped module", () => {
        const found: string[] = [];
        for (const [specifier, file] of manifest.modules) {
          if (file.startsWith("$(MODDABLE)")) continue;
          for (const at of xscReservedIdentifiers(file)) found.push(`${specifier}:${at}`);
        }
        assert.deepEqual(found, []);
      });

      it("has a creation main that it maps and does not preload", () => {
        const main = `hosts/${build.platform}/main`;
        assert.ok(manifest.modules.has(main), `${main} is not mapped`);
        assert.equal(isPreloaded(manifest, main), false);
      });
    });
  }

  it("chooses the slot writer with OTAFLOW_SLOT, as mcconfig's `?=` does", () => {
    const update = resolveManifest(MANIFEST, "esp32");
    const legacy = resolveManifest(MANIFEST, "esp32", { OTAFLOW_SLOT: "ota" });
    assert.match(update.modules.get("hosts/esp32/slot")!, /slot\.ts$/);
    assert.match(legacy.modules.get("hosts/esp32/slot")!, /slot-ota\.ts$/);
    assert.ok(legacy.provided.has("ota") && !update.provided.has("ota"));
  });

  it("refuses other platforms with the manifest's own message", () => {
    const other = resolveManifest(MANIFEST, "mac");
    assert.match(other.errors.join("\n"), /otaflow builds for esp32/);
  });
});
