// The post-pass that fills array holes: tsc's ES5 async code writes try-block tables as
// `[0, 2, , 3]`, and Espruino's parser fails on a hole in code that it skips ("Got ',' expected
// EOF", docs/ENGINES.md). Each hole becomes `void 0`, which every reader of those tables (the
// __generator helper) treats alike.
import { parse, type Node } from "acorn";

interface AnyNode extends Node {
  [key: string]: unknown;
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

/** The outermost arrays with a hole: an array nested in one is filled on the next pass. */
function arraysWithHoles(node: AnyNode, out: AnyNode[]): void {
  if (node.type === "ArrayExpression" && (node.elements as unknown[]).indexOf(null) >= 0) {
    out.push(node);
    return;
  }
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) arraysWithHoles(item, out);
    } else if (isNode(value)) arraysWithHoles(value, out);
  }
}

export function fillHoles(source: string): string {
  let code = source;
  for (;;) {
    const found: AnyNode[] = [];
    arraysWithHoles(parse(code, { ecmaVersion: 5 }) as unknown as AnyNode, found);
    if (found.length === 0) return code;
    let out = "";
    let at = 0;
    for (const array of found) {
      const elements = array.elements as (AnyNode | null)[];
      const items = elements.map((e) => (e ? code.slice(e.start, e.end) : "void 0"));
      out += code.slice(at, array.start) + "[" + items.join(",") + "]";
      at = array.end;
    }
    code = out + code.slice(at);
  }
}
