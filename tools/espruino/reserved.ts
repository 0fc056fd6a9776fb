// Espruino's lexer reserves words that ES5 leaves free: `of` (and `let`, `static` outside strict
// code). A variable so named is a syntax error on the interpreter ("Got of expected ID"), found only
// when the function holding it first runs, while Node runs it fine. esbuild's minifier can name a
// variable `of` (it did for the MQTT CONNACK parser), so the build renames such variables, and the
// static check (features.ts) refuses any left.
import { parse, type Node } from "acorn";

const ESPRUINO_ONLY_RESERVED = ["of", "let", "static"];

interface AnyNode extends Node {
  [key: string]: unknown;
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

/** Every identifier that names a variable (not `x.name` nor a `{ name: ... }` key), in order. */
function variableNames(node: AnyNode, parent: AnyNode | undefined, out: AnyNode[]): void {
  if (node.type === "Identifier") {
    const isProperty =
      parent !== undefined &&
      ((parent.type === "MemberExpression" && !parent.computed && parent.property === node) ||
        (parent.type === "Property" && !parent.computed && parent.key === node));
    if (!isProperty) out.push(node);
    return;
  }
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) variableNames(item, node, out);
    } else if (isNode(value)) variableNames(value, node, out);
  }
}

/** The variables of a parsed program that Espruino cannot name. */
export function reservedVariables(program: Node): AnyNode[] {
  const all: AnyNode[] = [];
  variableNames(program as AnyNode, undefined, all);
  return all.filter((node) => ESPRUINO_ONLY_RESERVED.indexOf(node.name as string) >= 0);
}

/**
 * Renames every variable Espruino cannot name to a name used nowhere in `source` (so it can
 * capture nothing): all variables so named become one new variable per word, which keeps the
 * meaning since the new name is free in every scope.
 */
export function renameReserved(source: string): string {
  const program = parse(source, { ecmaVersion: 5 });
  const found = reservedVariables(program);
  if (found.length === 0) return source;
  const used: AnyNode[] = [];
  variableNames(program as unknown as AnyNode, undefined, used);
  const taken = used.map((node) => node.name as string);
  const renamed: Record<string, string> = {};
  for (const node of found) {
    const word = node.name as string;
    if (renamed[word] !== undefined) continue;
    let n = 0;
    while (taken.indexOf(`${word}$${n}`) >= 0) n++;
    renamed[word] = `${word}$${n}`;
  }
  let out = "";
  let at = 0;
  for (const node of found) {
    out += source.slice(at, node.start) + renamed[node.name as string];
    at = node.end;
  }
  return out + source.slice(at);
}
