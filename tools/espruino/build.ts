// `npm run build:espruino`: the Espruino host and the core bundled by rollup into one ES5 file,
// build/espruino/otaflow.js, made runnable on Espruino 2v2x by the hoisting post-pass (hoist.ts)
// and the prelude (prelude.js: built-in methods on their prototypes), with tsc's helpers from
// helpers.js. Also the boot file, build/espruino/boot0.js, and an application image of the bundle
// followed by `--app <file.js>` (default: otaflow.start();) as build/espruino/app-<version>.bin.
//
//   npm run build:espruino [-- --version 1.0.0 --project otaflow-espruino --app main.js --cloud aws]
import typescript from "@rollup/plugin-typescript";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";
import { rollup, type Plugin } from "rollup";
import { buildScriptImage } from "./app-image";
import { findMissingFeatures, preludeMethods } from "./features";
import { fillHoles } from "./holes";
import { hoist } from "./hoist";
import { renameReserved } from "./reserved";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const HOST = path.join(ROOT, "hosts/espruino");
export const PRELUDE_FILE = path.join(ROOT, "tools/espruino/prelude.js");

export interface EspruinoBuild {
  /** The prelude, then the hoisted bundle. */
  code: string;
  /** Where the prelude ends in `code`: the static checks look at what follows. */
  preludeEnd: number;
  boot0: string;
}

/** The cloud modules of hosts/espruino/clouds, by the name the settings give. */
export const CLOUDS: Record<string, string> = {
  aws: "awsCloud",
  thingsboard: "thingsBoardCloud",
  tencent: "tencentCloud",
};

/** Replaces clouds/index.ts (every cloud) with a module that names only `cloud`. */
function oneCloud(cloud: string): Plugin {
  const virtual = "\0otaflow-one-cloud";
  return {
    name: "otaflow-one-cloud",
    resolveId(source, importer) {
      if (
        importer &&
        path.resolve(path.dirname(importer), source) === path.join(HOST, "clouds/index")
      )
        return virtual;
      return null;
    },
    load(id) {
      if (id !== virtual) return null;
      const module = JSON.stringify(path.join(HOST, "clouds", `${cloud}.ts`));
      return `import { ${CLOUDS[cloud]} } from ${module};\nexport var CLOUDS = { ${cloud}: ${CLOUDS[cloud]} };\n`;
    },
  };
}

async function bundle(entry: string, cloud?: string): Promise<string> {
  const diagnostics: string[] = [];
  const build = await rollup({
    input: entry,
    plugins: [
      ...(cloud ? [oneCloud(cloud)] : []),
      typescript({
        tsconfig: path.join(HOST, "tsconfig.json"),
        compilerOptions: {
          target: "ES5",
          // TypeScript 6 deprecates the ES5 target (7 drops it); Espruino needs it.
          ignoreDeprecations: "6.0",
          module: "ESNext",
          noEmit: false,
          sourceMap: false,
        },
        // tsc's helpers (__awaiter, __generator...) from helpers.js rather than tslib.
        tslib: path.join(ROOT, "tools/espruino/helpers.js"),
        include: [
          path.join(ROOT, "hosts/espruino/**/*.ts"),
          path.join(ROOT, "src/**/*.ts"),
          path.join(ROOT, "node_modules/@types/espruino/index.d.ts"),
        ],
      }),
    ],
    onwarn(warning) {
      // The boot file runs the application with eval, on purpose.
      if (warning.code !== "EVAL") diagnostics.push(warning.message);
    },
  });
  const { output } = await build.generate({ format: "iife", strict: true });
  await build.close();
  if (diagnostics.length > 0) throw new Error(`rollup: ${diagnostics.join("\n")}`);
  // Comments and long names would take a third of an ESP32's Storage: minified, still ES5.
  const minified = await transform(output[0].code, { target: "es5", minify: true });
  return minified.code;
}

/** `cloud`: bundle only that cloud's code (the settings must name it); all three without. */
export async function buildEspruino(options: { cloud?: string } = {}): Promise<EspruinoBuild> {
  const cloud = options.cloud;
  if (cloud !== undefined && !(cloud in CLOUDS))
    throw new Error(`--cloud ${cloud}: not one of ${Object.keys(CLOUDS).join(", ")}`);
  // esbuild drops what the formatter adds and ES5 lacks (trailing commas in calls).
  const prelude = hoist(
    (await transform(fs.readFileSync(PRELUDE_FILE, "utf8"), { target: "es5" })).code,
  );
  const main = renameReserved(fillHoles(hoist(await bundle(path.join(HOST, "main.ts"), cloud))));
  const boot0 = renameReserved(fillHoles(hoist(await bundle(path.join(HOST, "boot0.ts")))));
  const code = prelude + "\n" + main;
  const missing = findMissingFeatures(code, prelude.length, preludeMethods(prelude)).concat(
    findMissingFeatures(boot0, 0, {}).map((what) => `boot0 ${what}`),
  );
  if (missing.length > 0)
    throw new Error(`Espruino lacks what the bundle uses:\n${missing.join("\n")}`);
  return { code, preludeEnd: prelude.length, boot0 };
}

function option(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(name);
  return at >= 0 && at + 1 < args.length ? args[at + 1] : fallback;
}

async function main(args: string[]): Promise<void> {
  const out = path.join(ROOT, "build/espruino");
  fs.mkdirSync(out, { recursive: true });
  const cloud = option(args, "--cloud", "");
  const built = await buildEspruino({ cloud: cloud || undefined });
  fs.writeFileSync(path.join(out, "otaflow.js"), built.code);
  fs.writeFileSync(path.join(out, "boot0.js"), built.boot0);
  const version = option(args, "--version", "1.0.0");
  const app = option(args, "--app", "");
  const script = built.code + "\n" + (app ? fs.readFileSync(app, "utf8") : "otaflow.start();\n");
  const image = buildScriptImage({
    version,
    project: option(args, "--project", "otaflow-espruino"),
    script,
  });
  const imageFile = path.join(out, `app-${version}.bin`);
  fs.writeFileSync(imageFile, image);
  console.log(
    `build/espruino: otaflow.js (${built.code.length} bytes), boot0.js, ` +
      `${path.basename(imageFile)} (${image.length} bytes)`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
}
