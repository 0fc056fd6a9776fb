// The static check of a bundle against what Espruino 2v2x lacks or gets wrong (docs/ENGINES.md):
// globals, static and prototype methods, labels, built-in methods read through a prototype that
// the prelude does not put there (trap 2), every regular expression (its lexer ends a literal at
// the first `/`, its engine has no `?`, `{n,m}`, `(?:` or lookahead and matches them wrongly
// without an error), array holes (its parser fails on one in code it skips) and assignments to
// `length` (read-only on Espruino's arrays), variables named as words Espruino reserves (`of`). The parse itself
// (ES5) rules out the syntax Espruino lacks (destructuring, spread, default parameters, classes,
// generators, `**`, computed keys).
import { parse, type Node } from "acorn";
import { reservedVariables } from "./reserved";

const MISSING_GLOBALS = [
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "WeakRef",
  "Symbol",
  "Proxy",
  "Reflect",
  "BigInt",
  "TextEncoder",
  "TextDecoder",
  "setImmediate",
  "queueMicrotask",
  "RangeError",
  // Exists, but its engine is crippled (see above): board code uses none.
  "RegExp",
];

const MISSING_STATICS: Record<string, string[]> = {
  Array: ["from", "of"],
  Uint8Array: ["from", "of"],
  ArrayBuffer: ["isView"],
  Math: ["imul", "clz32", "trunc", "sign"],
  Object: ["freeze"],
  Promise: ["race", "allSettled", "any"],
  String: ["fromCodePoint", "raw"],
  Number: ["isInteger", "isFinite", "isNaN", "MAX_SAFE_INTEGER", "EPSILON"],
};

/** Methods Espruino lacks on any object: flagged wherever `x.name(...)` is called. */
const MISSING_METHODS = ["finally", "at", "trimStart", "trimEnd", "flat", "codePointAt", "search"];

const BUILTINS = ["Object", "Function", "Array", "String", "Number", "Uint8Array", "Promise"];

interface AnyNode extends Node {
  [key: string]: unknown;
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

function walk(node: AnyNode, visit: (node: AnyNode) => void): void {
  visit(node);
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) walk(item, visit);
    } else if (isNode(value)) walk(value, visit);
  }
}

function nameOf(node: unknown): string | undefined {
  return isNode(node) && node.type === "Identifier" ? (node.name as string) : undefined;
}

/** Built-in methods the prelude copies onto each prototype: `copy(X.prototype, instance, [...])`. */
export function preludeMethods(prelude: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  walk(parse(prelude, { ecmaVersion: 5 }) as unknown as AnyNode, (node) => {
    if (node.type !== "CallExpression" || nameOf(node.callee) !== "copy") return;
    const [target, , names] = node.arguments as AnyNode[];
    const owner = nameOf(target.object);
    if (!owner || names.type !== "ArrayExpression") return;
    out[owner] = (names.elements as AnyNode[]).map((e) => String(e.value));
  });
  return out;
}

/** Every use of something Espruino lacks in `code` from `from` on, as "line:column what". */
export function findMissingFeatures(
  code: string,
  from: number,
  copied: Record<string, string[]>,
): string[] {
  const program = parse(code, { ecmaVersion: 5, locations: true }) as unknown as AnyNode;
  const found: string[] = [];
  const at = (node: AnyNode, what: string) => {
    if (node.start >= from) found.push(`${node.loc!.start.line}:${node.loc!.start.column} ${what}`);
  };
  for (const node of reservedVariables(program))
    at(node as AnyNode, `variable named ${node.name as string} (reserved by Espruino)`);
  walk(program, (node) => {
    if (node.type === "CallExpression") {
      const callee = node.callee as AnyNode;
      const method =
        callee.type === "MemberExpression" && !callee.computed
          ? nameOf(callee.property)
          : undefined;
      if (method && MISSING_METHODS.indexOf(method) >= 0) at(node, `.${method}()`);
    }
    if (node.type === "Identifier" && MISSING_GLOBALS.indexOf(node.name as string) >= 0)
      at(node, node.name as string);
    if (node.type === "LabeledStatement") at(node, `label ${nameOf(node.label)}`);
    if (node.type === "Literal" && node.regex) at(node, `regular expression ${node.raw as string}`);
    if (node.type === "ArrayExpression" && (node.elements as unknown[]).indexOf(null) >= 0)
      at(node, "array hole");
    // An array's length is read-only on Espruino: `a.length = 0` throws.
    if (node.type === "AssignmentExpression") {
      const target = node.left as AnyNode;
      if (
        target.type === "MemberExpression" &&
        !target.computed &&
        nameOf(target.property) === "length"
      )
        at(node, "assignment to .length");
    }
    if (node.type !== "MemberExpression" || node.computed) return;
    const property = nameOf(node.property)!;
    const owner = nameOf(node.object);
    if (owner && (MISSING_STATICS[owner] || []).indexOf(property) >= 0)
      at(node, `${owner}.${property}`);
    // X.prototype.m: undefined on Espruino unless the prelude copied it.
    const inner = node.object as AnyNode;
    if (
      inner.type === "MemberExpression" &&
      !inner.computed &&
      nameOf(inner.property) === "prototype"
    ) {
      const builtin = nameOf(inner.object);
      if (
        builtin &&
        BUILTINS.indexOf(builtin) >= 0 &&
        (copied[builtin] || []).indexOf(property) < 0
      )
        at(node, `${builtin}.prototype.${property} (not in the prelude)`);
    }
  });
  return found;
}
