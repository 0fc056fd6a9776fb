// The portable core and the backends run on XS, Espruino and Node alike: nothing under src/ may
// import a platform module or use a platform global.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return file.endsWith(".ts") ? [file] : [];
  });
}

const SRC = path.join(import.meta.dirname, "..", "..", "src");
const files = sources(SRC);

test("nothing under src imports anything but other files under src", () => {
  assert.ok(files.length > 20);
  const offenders: string[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    for (const match of text.matchAll(
      /(?:import|export)[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)/g,
    )) {
      const specifier = match[1] ?? match[2] ?? match[3];
      const resolved = path.resolve(path.dirname(file), specifier);
      if (!specifier.startsWith(".") || !resolved.startsWith(SRC + path.sep)) {
        offenders.push(`${path.relative(SRC, file)}: ${specifier}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});

test("nothing under src touches a platform global", () => {
  const globals =
    /\b(process|Buffer|setTimeout|setInterval|setImmediate|console|TextEncoder|TextDecoder|require|trace|globalThis|window|fetch)\s*[.(]/;
  const offenders: string[] = [];
  for (const file of files) {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (/^\s*(\*|\/\*|\/\/)/.test(line)) return; // comment lines
      const code = line.replace(/\/\/.*$/, "").replace(/"[^"]*"|'[^']*'|`[^`]*`/g, '""');
      // Method calls on the ports (clock.setTimeout) and the port's own declaration are fine.
      const portMethod =
        /\.\s*(setTimeout|clearTimeout)\s*\(/.test(code) || /^\s*\w+\(.*\):\s*\w+;$/.test(code);
      if (globals.test(code) && !portMethod) {
        offenders.push(`${path.relative(SRC, file)}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(offenders, []);
});
