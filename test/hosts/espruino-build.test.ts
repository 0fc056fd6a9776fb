// The Espruino build: ES5 output, nothing Espruino 2v2x lacks outside the prelude, hoisting that
// keeps the meaning of the code, and the test realm really missing what Espruino misses.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { parse, type Node } from "acorn";
import ts from "typescript";
// @ts-expect-error -- helpers.js is the plain JavaScript given to the bundle in place of tslib
import { __awaiter, __generator } from "../../tools/espruino/helpers.js";
import { buildEspruino, type EspruinoBuild } from "../../tools/espruino/build";
import { findMissingFeatures, preludeMethods } from "../../tools/espruino/features";
import { fillHoles } from "../../tools/espruino/holes";
import { hoist } from "../../tools/espruino/hoist";
import { renameReserved } from "../../tools/espruino/reserved";
import { EspruinoDevice } from "../../tools/espruino/realm";

let built: EspruinoBuild;

before(async () => {
  built = await buildEspruino();
});

/** Runs `script` as the device's boot file and returns what it printed. */
function runOnDevice(script: string): string[] {
  const device = new EspruinoDevice();
  device.storage.write(".boot0", script);
  const boot = device.boot();
  boot.stop();
  return boot.console;
}

describe("espruino build", () => {
  it("emits ES5: the bundle and the boot file parse with ecmaVersion 5", () => {
    assert.doesNotThrow(() => parse(built.code, { ecmaVersion: 5 }));
    assert.doesNotThrow(() => parse(built.boot0, { ecmaVersion: 5 }));
    // The parser does refuse what is newer, regular expressions included.
    assert.throws(() => parse("const f = (a) => a;", { ecmaVersion: 5 }));
    assert.throws(() => parse("var r = /(?<=a)b/;", { ecmaVersion: 5 }));
  });

  it("uses nothing Espruino lacks outside the prelude", () => {
    const prelude = built.code.slice(0, built.preludeEnd);
    assert.deepEqual(
      findMissingFeatures(built.code, built.preludeEnd, preludeMethods(prelude)),
      [],
    );
    assert.deepEqual(findMissingFeatures(built.boot0, 0, {}), []);
  });

  it("the static check finds each kind of missing feature", () => {
    const sample = [
      "var m = new Map();",
      "var a = Array.from([1]);",
      "var x = Math.imul(2, 3);",
      "p.finally(function () {});",
      "outer: for (;;) { break outer; }",
      "var s = Array.prototype.includes;",
      "var t = Array.prototype.slice;",
      'var v = /^[a/b]{1,2}$/.test("a");',
      "var w = new RegExp(v);",
      "var holes = [0, 2, , 3];",
      'var at = "a?b".search("?");',
      "holes.length = 0;",
    ].join("\n");
    const found = findMissingFeatures(sample, 0, { Array: ["slice"] });
    assert.deepEqual(
      found.map((line) => line.replace(/^\d+:\d+ /, "")),
      [
        "Map",
        "Array.from",
        "Math.imul",
        ".finally()",
        "label outer",
        "Array.prototype.includes (not in the prelude)",
        "regular expression /^[a/b]{1,2}$/",
        "RegExp",
        "array hole",
        ".search()",
        "assignment to .length",
      ],
    );
  });

  it("hoists function declarations and vars to the top of each scope, keeping the meaning", () => {
    const source = [
      '"use strict";',
      "var early = twice(4);",
      "function twice(n) {",
      "  if (n < 0) { var never = 1; }",
      "  for (var i = 0, sum = 0; i < 2; i++) sum += n;",
      "  for (var key in { a: 1 }) sum += key.length;",
      "  return add(sum, never === undefined ? 0 : 100);",
      "  function add(a, b) { var c = a + b; return c; }",
      "}",
      "var result = [early, typeof never];",
    ].join("\n");
    const out = hoist(source);
    const run = (code: string) => new Function(`${code}; return result;`)() as unknown[];
    assert.deepEqual(run(out), run(source));
    assert.deepEqual(run(out), [9, "undefined"]);
    // In every body: declarations first (after "use strict"), and no var anywhere else.
    const check = (body: (Node & { type: string; directive?: string })[]) => {
      const rest = body.filter((s) => s.directive === undefined);
      const firstOther = rest.findIndex(
        (s) => s.type !== "FunctionDeclaration" && s.type !== "VariableDeclaration",
      );
      const tail = firstOther < 0 ? [] : rest.slice(firstOther);
      assert.ok(
        tail.every((s) => s.type !== "FunctionDeclaration" && s.type !== "VariableDeclaration"),
      );
    };
    const program = parse(out, { ecmaVersion: 5 }) as unknown as { body: [] };
    check(program.body);
    const twice = (program.body as { type: string; body?: { body: [] } }[]).find(
      (s) => s.type === "FunctionDeclaration",
    )!;
    check(twice.body!.body);
    assert.equal((out.match(/\bvar\b/g) || []).length, 3);
  });

  it("a build for one cloud bundles only that cloud's code", async () => {
    const aws = await buildEspruino({ cloud: "aws" });
    assert.ok(
      aws.code.length < built.code.length * 0.9,
      `${aws.code.length} of ${built.code.length}`,
    );
    for (const [code, has] of [
      [built.code, [true, true, true]],
      [aws.code, [true, false, false]],
    ] as const)
      assert.deepEqual(
        ["$aws/things/", "$ota/report/", "v1/devices/me/attributes/request/"].map(
          (topic) => code.indexOf(topic) >= 0,
        ),
        has,
      );
    await assert.rejects(buildEspruino({ cloud: "azure" }), /--cloud azure: not one of/);
  });

  it("renames variables Espruino reserves (esbuild named one `of`), keeping the meaning", () => {
    const source = [
      "var of$0 = 5;",
      "function of(t) { return t + 1; }",
      "var o = { of: 2 };",
      "function f(of) { return of * o.of; }",
      "var r = [of(1), f(3), of$0, o.of];",
    ].join("\n");
    const strip = (found: string[]) => found.map((line) => line.replace(/^\d+:\d+ /, ""));
    assert.deepEqual(strip(findMissingFeatures(source, 0, {})), [
      "variable named of (reserved by Espruino)",
      "variable named of (reserved by Espruino)",
      "variable named of (reserved by Espruino)",
      "variable named of (reserved by Espruino)",
    ]);
    const out = renameReserved(source);
    assert.deepEqual(findMissingFeatures(out, 0, {}), []);
    assert.match(out, /o\.of/);
    const run = (code: string) => new Function(`${code}; return r;`)() as unknown[];
    assert.deepEqual(run(out), run(source));
  });

  it("the generator helper delegates: a loop that awaits and closes over its variable", async () => {
    // tsc makes such a loop's body a generator of its own, run with instruction 5 (the transfer
    // loop is one): the helper must run it, not fall into the try-table handling.
    const source = [
      "async function f(tick: () => Promise<number>) {",
      "  const out: (() => number)[] = [];",
      "  for (let i = 0; i < 3; i++) {",
      "    const got = await tick();",
      "    out.push(() => i * 10 + got);",
      "    if (i === 1) continue;",
      "  }",
      "  try { for (let k = 0; k < 1; k++) { await tick(); out.push(() => k); throw new Error('in loop'); } }",
      "  catch (e) { out.push(() => -1); }",
      "  return out.map((g) => g());",
      "}",
    ].join("\n");
    const es5 = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES5, noEmitHelpers: true },
    }).outputText;
    assert.match(es5, /\[5 \/\*yield\*\*\/, _loop_/);
    let n = 0;
    const f = new Function("__awaiter", "__generator", `${es5}; return f;`)(
      __awaiter,
      __generator,
    ) as (tick: () => Promise<number>) => Promise<number[]>;
    assert.deepEqual(await f(() => Promise.resolve(++n)), [1, 12, 23, 0, -1]);
  });

  it("the build fills array holes, keeping the meaning", () => {
    const source =
      "var t = [0, 2, , 3]; var u = [[1, , 2], , ]; var r = [t.length, t[2], u[0][1], u.length];";
    const out = fillHoles(source);
    assert.doesNotMatch(out, /,\s*,|\[\s*,/);
    const run = (code: string) => new Function(`${code}; return r;`)() as unknown[];
    assert.deepEqual(run(out), run(source));
  });

  it("the test realm has Espruino's limits: apply, clearTimeout(undefined), slice, search", () => {
    const probe = [
      "var big = []; for (var i = 0; i < 257; i++) big.push(65);",
      "try { String.fromCharCode.apply(null, big); console.log('apply ok'); } catch (e) { console.log(e.message); }",
      "console.log(String.fromCharCode.apply(null, big.slice(0, 256)).length);",
      "try { clearTimeout(undefined); console.log('cleared'); } catch (e) { console.log(e.message); }",
      "var s = new Uint8Array([1, 2, 3]).slice(1);",
      "console.log([Array.isArray(s), s.length, typeof 'abc'.search].join(' '));",
      "console.log(E.toString(new Uint8Array([104, 105])) + ' ' + E.toUint8Array('hi')[1]);",
    ].join("\n");
    assert.deepEqual(runOnDevice(probe), [
      "Array passed to Function.apply is too big",
      "256",
      "clearTimeout(undefined) not allowed",
      "true 2 undefined",
      "hi 105",
    ]);
  });

  it("the test realm lacks what Espruino lacks, and the prelude puts methods on prototypes", () => {
    const probe =
      "console.log([typeof Map, typeof Set, typeof Symbol, typeof Array.from, typeof Math.imul," +
      " typeof Object.freeze, typeof new ArrayBuffer(1).slice, typeof Promise.race," +
      " typeof Promise.resolve().finally, typeof TextEncoder, typeof Array.prototype.slice," +
      " typeof String.prototype.charCodeAt, typeof Uint8Array.prototype.set].join(' '));" +
      " console.log([typeof [].slice, typeof ''.charCodeAt, typeof new Uint8Array(1).set].join(' '));";
    const missing = Array(13).fill("undefined").join(" ");
    assert.deepEqual(runOnDevice(probe), [missing, "function function function"]);
    const prelude = built.code.slice(0, built.preludeEnd);
    const after = runOnDevice(
      prelude +
        "\nconsole.log([Array.prototype.slice.call([1, 2], 1)[0], typeof Function.prototype.apply].join(' '));",
    );
    assert.deepEqual(after, ["2 function"]);
  });
});
