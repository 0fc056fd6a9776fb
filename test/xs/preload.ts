// The XS tier's stand-in for a Moddable app's preload: xsl runs the preloaded modules at link time
// and what they leave is read-only at run time (a RegExp's lastIndex, a Map's entries, a typed
// array's elements, static properties; plain objects only through aliasing, which the project's
// rules forbid relying on). This esbuild plugin appends to each module that manifest.json preloads
// (for esp32, legacy ota and lin) a call that deep-freezes its module-level bindings once its
// body has run, with `preloaded` from freeze.ts; a write to one then throws in xsnap as on the board.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type * as esbuild from "esbuild";
import ts from "typescript";
import { isPreloaded, resolveManifest } from "../../tools/moddable-manifest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const BUILDS: [string, Record<string, string>][] = [
  ["esp32", {}],
  ["esp32", { OTAFLOW_SLOT: "ota" }],
  ["lin", {}],
];

/** The source files a Moddable build of manifest.json preloads. */
export function preloadedFiles(): Set<string> {
  const files = new Set<string>();
  for (const [platform, env] of BUILDS) {
    const manifest = resolveManifest(path.join(ROOT, "manifest.json"), platform, env);
    for (const [specifier, file] of manifest.modules) {
      if (!file.startsWith("$(") && isPreloaded(manifest, specifier)) files.add(file);
    }
  }
  return files;
}

function bindingNames(name: ts.BindingName, out: string[]): void {
  if (ts.isIdentifier(name)) {
    out.push(name.text);
    return;
  }
  for (const element of name.elements) {
    if (!ts.isOmittedExpression(element)) bindingNames(element.name, out);
  }
}

function isDeclared(node: ts.Node): boolean {
  return (ts.getCombinedModifierFlags(node as ts.Declaration) & ts.ModifierFlags.Ambient) !== 0;
}

/** Names of the values a module declares at its top level (types and ambient declarations aside). */
export function moduleLevelNames(file: string, source: string): string[] {
  const parsed = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, false);
  const names: string[] = [];
  for (const statement of parsed.statements) {
    if (isDeclared(statement)) continue;
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        bindingNames(declaration.name, names);
      }
    } else if (
      (ts.isFunctionDeclaration(statement) && statement.body) ||
      ts.isClassDeclaration(statement) ||
      (ts.isEnumDeclaration(statement) &&
        !(ts.getCombinedModifierFlags(statement) & ts.ModifierFlags.Const))
    ) {
      if (statement.name) names.push(statement.name.text);
    }
  }
  return names;
}

export function preloadPlugin(): esbuild.Plugin {
  const files = preloadedFiles();
  return {
    name: "moddable-preload",
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        if (!files.has(args.path)) return undefined;
        const source = fs.readFileSync(args.path, "utf8");
        const names = moduleLevelNames(args.path, source);
        const freeze = names.length ? `\n;globalThis.preloaded([${names.join(", ")}]);\n` : "";
        return { contents: source + freeze, loader: "ts" };
      });
    },
  };
}
