// The post-pass that makes tsc's ES5 output run on Espruino, which hoists nothing (docs/ENGINES.md,
// trap 1): in every function and in the file, the function declarations move to the top of the
// body and every `var` is declared there, its declarations becoming plain assignments. The code
// is parsed as ES5 with acorn, so anything newer fails here first.
import { parse, type Node } from "acorn";

interface AnyNode extends Node {
  [key: string]: unknown;
}

interface Edit {
  start: number;
  end: number;
  render: () => string;
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

function children(node: AnyNode): { child: AnyNode; key: string }[] {
  const out: { child: AnyNode; key: string }[] = [];
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) out.push({ child: item, key });
    } else if (isNode(value)) out.push({ child: value, key });
  }
  return out;
}

const FUNCTION = /^(FunctionDeclaration|FunctionExpression)$/;

export function hoist(source: string): string {
  const program = parse(source, { ecmaVersion: 5, sourceType: "script" }) as unknown as AnyNode;
  const edits: Edit[] = [];

  function textOf(start: number, end: number, skip?: Edit): string {
    // A moved declaration may start where its scope's insertion goes: that one is not its own.
    const inside = edits
      .filter((e) => e !== skip && e.start >= start && e.end <= end)
      .filter((e) => !(skip && e.start === start && e.end === start))
      .sort((a, b) => a.start - b.start || a.end - b.end);
    let out = "";
    let at = start;
    for (const edit of inside) {
      if (edit.start < at) continue; // nested in an edit already rendered
      out += source.slice(at, edit.start) + edit.render();
      at = edit.end;
    }
    return out + source.slice(at, end);
  }

  /** A function (or the program): its body's statements, its parameters. */
  function scope(body: AnyNode[], bodyStart: number, params: string[]): void {
    const names: string[] = [];
    const hoisted: { node: AnyNode; edit: Edit }[] = [];
    const visit = (node: AnyNode, parent: AnyNode | undefined, key: string): void => {
      if (FUNCTION.test(node.type)) {
        const fn = node as AnyNode & { params: AnyNode[]; body: AnyNode & { body: AnyNode[] } };
        scope(
          fn.body.body,
          fn.body.start + 1,
          fn.params.map((p) => p.name as string),
        );
        return;
      }
      if (node.type === "VariableDeclaration") {
        const declarators = node.declarations as (AnyNode & { id: AnyNode; init?: AnyNode })[];
        for (const d of declarators) {
          const name = d.id.name as string;
          if (names.indexOf(name) < 0 && params.indexOf(name) < 0) names.push(name);
        }
        const forHead =
          parent && (parent.type === "ForStatement" || parent.type === "ForInStatement");
        edits.push({
          start: node.start,
          end: node.end,
          render: () => {
            if (parent && parent.type === "ForInStatement" && key === "left")
              return declarators[0].id.name as string;
            const assignments = declarators
              .filter((d) => d.init)
              .map((d) => `${d.id.name as string} = ${textOf(d.init!.start, d.init!.end)}`)
              .join(", ");
            return forHead ? assignments : assignments + ";";
          },
        });
      }
      for (const { child, key: childKey } of children(node)) visit(child, node, childKey);
    };
    for (const statement of body) {
      if (statement.type === "FunctionDeclaration") {
        const edit: Edit = { start: statement.start, end: statement.end, render: () => "" };
        hoisted.push({ node: statement, edit });
        edits.push(edit);
      }
      visit(statement, undefined, "");
    }
    const fnNames = hoisted.map((h) => (h.node.id as AnyNode).name as string);
    // After the directive prologue ("use strict"), which must stay first.
    let insertAt = bodyStart;
    for (const statement of body) {
      if (statement.type !== "ExpressionStatement" || statement.directive === undefined) break;
      insertAt = statement.end;
    }
    edits.push({
      start: insertAt,
      end: insertAt,
      render: () => {
        const vars = names.filter((n) => fnNames.indexOf(n) < 0);
        return (
          (vars.length > 0 ? `var ${vars.join(", ")};` : "") +
          hoisted.map((h) => textOf(h.node.start, h.node.end, h.edit)).join("\n")
        );
      },
    });
  }

  scope(program.body as AnyNode[], 0, []);
  return textOf(0, source.length);
}
