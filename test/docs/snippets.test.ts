// The ```ts code blocks of README.md and docs/*.md compile against the repository, so that what a
// fork copies from the documentation works. Each block is checked as a module placed next to its
// Markdown file (relative imports resolve as a reader would write them). What a block assumes
// (a `ports` value, a helper) is declared in a hidden prelude: an HTML comment right before the
// fence, which Markdown does not render:
//
//   <!-- prelude
//   import type { HostPorts } from "../src/index";
//   declare const ports: HostPorts;
//   -->
//   ```ts
//   ...
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

const ROOT = path.resolve(import.meta.dirname, "../..");

interface Snippet {
  /** Markdown file and the line of the opening fence (1-based), for messages. */
  file: string;
  line: number;
  prelude: string;
  code: string;
}

const FENCE = /^```(ts|typescript)\s*$/;
const PRELUDE_START = /^<!--\s*prelude\s*$/;

function extractSnippets(file: string, markdown: string): Snippet[] {
  const lines = markdown.split("\n");
  const snippets: Snippet[] = [];
  let prelude: string[] | undefined;
  let pending = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (prelude) {
      if (line.trim() === "-->") {
        pending = prelude.join("\n");
        prelude = undefined;
      } else prelude.push(line);
      continue;
    }
    if (PRELUDE_START.test(line.trim())) {
      prelude = [];
      continue;
    }
    if (/^```/.test(line) && !FENCE.test(line)) {
      // Another language's block (it may show the prelude convention itself): skipped whole.
      while (++i < lines.length && !/^```\s*$/.test(lines[i]));
      pending = "";
      continue;
    }
    if (FENCE.test(line)) {
      const start = i;
      const code: string[] = [];
      while (++i < lines.length && !/^```\s*$/.test(lines[i])) code.push(lines[i]);
      snippets.push({ file, line: start + 1, prelude: pending, code: code.join("\n") });
    }
    // A prelude belongs to the block that follows it directly (blank lines aside).
    if (line.trim() !== "") pending = "";
  }
  return snippets;
}

function compilerOptions(): ts.CompilerOptions {
  const read = ts.readConfigFile(path.join(ROOT, "tsconfig.json"), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT);
  return {
    ...parsed.options,
    // A snippet shows a fragment: it may declare things it does not use.
    noUnusedLocals: false,
    noUnusedParameters: false,
    // Every snippet is a module, even without imports, so that names do not clash between blocks.
    moduleDetection: ts.ModuleDetectionKind.Force,
    // Snippets are portable code: no Node types unless a prelude references them.
    types: [],
    noEmit: true,
  };
}

/** Type-checks the snippets in one program; returns one message per error, at its Markdown line. */
function checkSnippets(snippets: Snippet[]): string[] {
  const files = new Map<string, { text: string; snippet: Snippet; offset: number }>();
  snippets.forEach((snippet, index) => {
    const name = path.join(ROOT, path.dirname(snippet.file), `__snippet_${index}.ts`);
    const prelude = snippet.prelude === "" ? "" : snippet.prelude + "\n";
    files.set(name, {
      text: prelude + snippet.code + "\n",
      snippet,
      offset: prelude === "" ? 0 : prelude.split("\n").length - 1,
    });
  });
  const options = compilerOptions();
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (name, language, onError, create) => {
    const virtual = files.get(path.resolve(name));
    if (virtual) return ts.createSourceFile(name, virtual.text, language, true);
    return getSourceFile.call(host, name, language, onError, create);
  };
  const fileExists = host.fileExists;
  host.fileExists = (name) => files.has(path.resolve(name)) || fileExists.call(host, name);
  const program = ts.createProgram([...files.keys()], options, host);
  const messages: string[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    const virtual = diagnostic.file && files.get(path.resolve(diagnostic.file.fileName));
    if (!virtual || diagnostic.start === undefined) {
      messages.push(`TS${diagnostic.code}: ${text}`);
      continue;
    }
    const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
    const at =
      line < virtual.offset ? "prelude" : String(virtual.snippet.line + 1 + line - virtual.offset);
    messages.push(`${virtual.snippet.file}:${at}: TS${diagnostic.code}: ${text}`);
  }
  return messages;
}

function documents(): string[] {
  const docs = fs
    .readdirSync(path.join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => path.join("docs", name));
  return ["README.md", ...docs];
}

test("the ts code blocks of README.md and docs/*.md compile", () => {
  const snippets = documents().flatMap((file) =>
    extractSnippets(file, fs.readFileSync(path.join(ROOT, file), "utf8")),
  );
  const files = new Set(snippets.map((snippet) => snippet.file));
  assert.ok(files.has("README.md"), "README.md has ts blocks");
  assert.ok(files.has(path.join("docs", "PORTING.md")), "docs/PORTING.md has ts blocks");
  assert.deepEqual(checkSnippets(snippets), []);
});

test("a block that does not compile is reported at its Markdown line", () => {
  const markdown = [
    "# Title",
    "<!-- prelude",
    'import type { Clock } from "../src/index";',
    "declare const clock: Clock;",
    "-->",
    "```ts",
    "const now: number = clock.now();",
    "const wrong: string = clock.now();",
    "```",
    "",
    "```text",
    "<!-- prelude",
    "declare const clock: number;",
    "-->",
    "```",
    "```ts",
    "clock.now();",
    "```",
  ].join("\n");
  const snippets = extractSnippets(path.join("docs", "EXAMPLE.md"), markdown);
  assert.equal(snippets.length, 2);
  assert.equal(snippets[1].prelude, "", "a prelude applies to the next block only");
  const messages = checkSnippets(snippets);
  assert.equal(messages.length, 2, messages.join("\n"));
  assert.match(
    messages[0],
    /^docs\/EXAMPLE\.md:8: TS2322: Type 'number' is not assignable to type 'string'/,
  );
  assert.match(messages[1], /^docs\/EXAMPLE\.md:17: TS2304: Cannot find name 'clock'/);
});
