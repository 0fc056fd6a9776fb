// node --import tsx tools/bench/node-worker.ts MODULE CASE...: runs the named cases of a module
// whose default export is an object of cases (as in test/xs/cases) in a fresh Node process and
// prints their results as one JSON object. Benchmarks measure Node here because the process that
// drives xsnap has run SES lockdown (@endo/init), which slows V8 on this code severalfold.

import * as path from "node:path";
import { pathToFileURL } from "node:url";

const [modulePath, ...names] = process.argv.slice(2);
const cases = (await import(pathToFileURL(path.resolve(modulePath)).href)).default as Record<
  string,
  () => unknown
>;
const results: Record<string, unknown> = {};
for (const name of names) {
  if (!cases[name]) throw new Error(`${modulePath} has no case ${name}`);
  results[name] = await cases[name]();
}
process.stdout.write(JSON.stringify(results));
