// docs/PORTING.md's table of what the agent guarantees at each step is the transition table of
// src/core/agent/machine.ts, row for row: a transition added or changed there must be documented.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TRANSITIONS } from "../../src/index";

const PORTING = path.resolve(import.meta.dirname, "../../docs/PORTING.md");
const ROW = /^\|\s*`([a-z-]+)`\s*\|\s*`([a-z-]+)`\s*\|\s*`([a-z-]+)`\s*\|/;

test("the guarantees table of PORTING.md lists every transition of the agent", () => {
  const documented = fs
    .readFileSync(PORTING, "utf8")
    .split("\n")
    .map((line) => ROW.exec(line))
    .filter((match) => match !== null)
    .map((match) => `${match[1]} --${match[2]}--> ${match[3]}`);
  const actual = TRANSITIONS.map((t) => `${t.from} --${t.event}--> ${t.to}`);
  assert.deepEqual(documented.sort(), actual.sort());
});
