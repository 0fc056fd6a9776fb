// npm run test:xs [-- FILTER...]: runs every case of test/xs/cases/*.ts inside the real XS engine
// (xsnap) with its intrinsics frozen as in a Moddable app, runs the same bundle in Node, and fails
// on any case that throws in either engine or whose results differ. A case module is a file in
// cases/ whose default export is an object of named cases (see runtime.ts); FILTERs keep the
// cases whose "module/case" name contains one of them.

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  bundleCases,
  type CaseModule,
  type Engine,
  type Outcome,
  openNode,
  openXs,
} from "./engine";

const casesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "cases");
const modules: CaseModule[] = fs
  .readdirSync(casesDir)
  .filter((file) => file.endsWith(".ts"))
  .sort()
  .map((file) => ({ name: file.slice(0, -3), file: path.join(casesDir, file) }));
const filters = process.argv.slice(2);

let passed = 0;
let failed = 0;

function report(name: string, problem: string | undefined, seconds = 0): void {
  if (problem === undefined) {
    passed++;
    console.log(`ok    ${name} (${seconds.toFixed(2)} s)`);
  } else {
    failed++;
    console.log(`FAIL  ${name} (${seconds.toFixed(2)} s)\n${problem.replace(/^/gm, "      ")}`);
  }
}

function compare(inXs: Outcome, inNode: Outcome): string | undefined {
  if (!inXs.ok || !inNode.ok) {
    const errors = [inXs.ok ? "" : `XS: ${inXs.error}`, inNode.ok ? "" : `Node: ${inNode.error}`];
    return errors.filter(Boolean).join("\n");
  }
  if (inXs.result !== inNode.result) {
    return `results differ\n  XS:   ${inXs.result}\n  Node: ${inNode.result}`;
  }
  return undefined;
}

async function runAll(): Promise<void> {
  const bundle = await bundleCases(modules);
  const node = await openNode(bundle);
  const xs: Engine = await openXs(bundle);
  try {
    const nodeNames = await node.list();
    const xsNames = await xs.list();
    if (xsNames.join("\n") !== nodeNames.join("\n")) {
      report("case list", `XS has ${xsNames.join(", ")}\nNode has ${nodeNames.join(", ")}`);
    }
    const names = nodeNames.filter(
      (name) => filters.length === 0 || filters.some((filter) => name.includes(filter)),
    );
    if (names.length === 0) report("filter", `no case matches ${filters.join(" ")}`);
    for (const name of names) {
      const started = Date.now();
      const inXs = await xs.run(name);
      const inNode = await node.run(name);
      report(name, compare(inXs, inNode), (Date.now() - started) / 1000);
    }
  } finally {
    await xs.close();
    await node.close();
  }
}

try {
  await runAll();
} catch (error) {
  // Bundling, or loading the bundle into an engine, failed.
  report("setup", error instanceof Error ? error.stack || error.message : String(error));
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
