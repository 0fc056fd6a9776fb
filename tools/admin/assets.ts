// The dashboard's files, bundled from node_modules by esbuild when first asked for: the page
// (Preact), and Pico CSS for its look. Nothing is fetched from the network.
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export interface DashboardAssets {
  html: string;
  js: string;
  css: string;
}

const HTML = `<!doctype html>
<html lang="en" data-theme="light">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>otaflow fleet</title>
    <link rel="stylesheet" href="/app.css" />
  </head>
  <body>
    <main class="container-fluid" id="app"></main>
    <script type="module" src="/app.js"></script>
  </body>
</html>
`;

let assets: Promise<DashboardAssets> | undefined;

async function bundle(): Promise<DashboardAssets> {
  const result = await build({
    entryPoints: [path.join(HERE, "page", "app.tsx")],
    bundle: true,
    write: false,
    format: "esm",
    target: "es2022",
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: true,
    logLevel: "silent",
  });
  const pico = fs.readFileSync(require.resolve("@picocss/pico/css/pico.min.css"), "utf8");
  const own = fs.readFileSync(path.join(HERE, "page", "app.css"), "utf8");
  return { html: HTML, js: result.outputFiles[0].text, css: `${pico}\n${own}` };
}

export function dashboardAssets(): Promise<DashboardAssets> {
  assets ??= bundle();
  return assets;
}
