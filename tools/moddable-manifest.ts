// What mcconfig makes of manifest.json for one platform, for the parts that are the project's own:
// the module map (specifier -> source file), the preload list and the SDK manifests it includes.
// The rules follow the Moddable SDK's tools/mcmanifest.js: a manifest's `build` variables
// (`NAME ?=` takes the environment's value first), the first matching `platforms` entry (or "...")
// merged in, its `include`s followed, `modules` entries "*" (base names), "dir/*" (every file of
// a directory) and plain ones (one file, extension left out). Manifests under $(MODDABLE) are not
// read: SDK_PROVIDES lists the specifiers this project takes from each. With it, a check that
// needs no SDK can find what xsl would refuse: an import of a module the manifest does not map.
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/** The specifiers each SDK manifest the project includes provides (Moddable SDK 8.2.3). */
export const SDK_PROVIDES: Record<string, string[]> = {
  "$(MODDABLE)/examples/manifest_base.json": ["Resource", "time", "timer", "mc/config"],
  "$(MODDABLE)/examples/manifest_net.json": ["net", "socket", "sntp", "wifi"],
  "$(MODULES)/files/preference/manifest.json": ["preference"],
  "$(MODULES)/files/file/manifest.json": ["file"],
  "$(MODULES)/network/http/manifest.json": ["http", "socket"],
  "$(MODULES)/crypt/tls.json": ["securesocket", "socket"],
  "$(MODULES)/crypt/digest/manifest.json": ["crypt"],
  "$(MODULES)/files/flash/manifest.json": ["flash"],
  "$(MODDABLE)/modules/io/flash/manifest.json": ["embedded:storage/flash"],
  "$(MODDABLE)/modules/io/update/manifest.json": ["embedded:update"],
  "$(MODDABLE)/build/devices/esp32/modules/ota/manifest.json": ["ota"],
};

/** What mcconfig generates from the manifest itself: mc/ffi from an `ffi` section. */
const FFI_SPECIFIER = "mc/ffi";

const SDK_ROOT = "$(MODDABLE)";
const SOURCE_EXTENSIONS = [".ts", ".js"];

export interface ResolvedManifest {
  /** Specifier -> absolute path of the project's source, or SDK_ROOT-prefixed path. */
  modules: Map<string, string>;
  preload: string[];
  /** SDK manifests included, as written (variables resolved to $(MODDABLE)/...). */
  sdkIncludes: string[];
  /** Specifiers the SDK manifests and mcconfig provide. */
  provided: Set<string>;
  errors: string[];
}

interface Manifest {
  build?: Record<string, unknown>;
  include?: string | string[];
  modules?: Record<string, string | string[]>;
  preload?: string | string[];
  platforms?: Record<string, Manifest>;
  ffi?: unknown;
  error?: string;
}

function list(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** mcmanifest.js matchPlatform: "esp32" matches "esp32", "esp32/*" its subplatforms, else "...". */
function matchPlatform(platforms: Record<string, Manifest>, name: string): Manifest | undefined {
  if (platforms[name]) return platforms[name];
  for (const key of Object.keys(platforms)) {
    if (key.endsWith("/*") && name.startsWith(key.slice(0, -1))) return platforms[key];
  }
  return platforms["..."];
}

/** Source files a modules entry names: "dir/*" every .ts/.js file, "dir/name" name.ts or name.js. */
function sourcesOf(pattern: string): { name: string; file: string }[] {
  if (pattern.endsWith("/*")) {
    const directory = pattern.slice(0, -2);
    if (!fs.existsSync(directory)) return [];
    return fs
      .readdirSync(directory)
      .filter((file) => !file.endsWith(".d.ts") && SOURCE_EXTENSIONS.includes(path.extname(file)))
      .map((file) => ({
        name: file.slice(0, -path.extname(file).length),
        file: path.join(directory, file),
      }));
  }
  for (const extension of SOURCE_EXTENSIONS) {
    if (fs.existsSync(pattern + extension)) {
      return [{ name: path.basename(pattern), file: pattern + extension }];
    }
  }
  // A type declaration only (e.g. hosts/esp32/types/ota.d.ts for the SDK's own module).
  if (fs.existsSync(pattern + ".d.ts")) return [{ name: path.basename(pattern), file: "" }];
  return [];
}

/**
 * Resolves `manifestPath` for `platform` ("esp32", "lin"). `env` stands for the shell environment
 * mcconfig sees, e.g. { OTAFLOW_SLOT: "ota" } for the legacy OTA build.
 */
export function resolveManifest(
  manifestPath: string,
  platform: string,
  env: Record<string, string> = {},
): ResolvedManifest {
  const variables: Record<string, string> = {
    MODDABLE: SDK_ROOT,
    MODULES: `${SDK_ROOT}/modules`,
    BUILD: `${SDK_ROOT}/build`,
    PLATFORM: platform,
  };
  const resolved: ResolvedManifest = {
    modules: new Map(),
    preload: [],
    sdkIncludes: [],
    provided: new Set(),
    errors: [],
  };
  const seen = new Set<string>();
  const expand = (text: string) =>
    text.replace(/\$\(([^)]+)\)/g, (whole, name: string) => variables[name] ?? env[name] ?? whole);

  const parseBuild = (build: Record<string, unknown> | undefined, directory: string) => {
    for (const [key, raw] of Object.entries(build ?? {})) {
      if (typeof raw !== "string") continue;
      let name = key;
      let value = expand(raw);
      if (key.endsWith(" ?=")) {
        name = key.slice(0, -3);
        if (name in variables) continue;
        if (env[name] !== undefined) value = env[name];
      }
      if (value.startsWith("./")) value = path.join(directory, value);
      variables[name] = value;
    }
  };

  const merge = (part: Manifest, directory: string) => {
    for (const [key, entries] of Object.entries(part.modules ?? {})) {
      for (const entry of list(entries)) {
        const source = expand(entry);
        if (source.startsWith(SDK_ROOT)) {
          if (key !== "*" && !key.endsWith("/*")) resolved.modules.set(key, source);
          continue;
        }
        const files = sourcesOf(path.resolve(directory, source));
        if (files.length === 0) resolved.errors.push(`${key}: nothing matches ${entry}`);
        for (const { name, file } of files) {
          const specifier = key === "*" ? name : key.endsWith("/*") ? key.slice(0, -1) + name : key;
          if (file) resolved.modules.set(specifier, file);
          else resolved.provided.add(specifier);
        }
      }
    }
    resolved.preload.push(...list(part.preload));
    if (part.ffi) resolved.provided.add(FFI_SPECIFIER);
    if (part.error) resolved.errors.push(part.error);
  };

  const parse = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const directory = path.dirname(file);
    const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Manifest;
    parseBuild(manifest.build, directory);
    const chosen = manifest.platforms ? matchPlatform(manifest.platforms, platform) : undefined;
    if (chosen) parseBuild(chosen.build, directory);
    for (const include of [...list(manifest.include), ...list(chosen?.include)]) {
      const target = expand(include);
      if (target.startsWith(SDK_ROOT)) {
        resolved.sdkIncludes.push(target);
        const provides = SDK_PROVIDES[include] ?? SDK_PROVIDES[target];
        if (!provides)
          resolved.errors.push(`${include}: an SDK manifest SDK_PROVIDES does not know`);
        for (const specifier of provides ?? []) resolved.provided.add(specifier);
      } else {
        parse(path.resolve(directory, target));
      }
    }
    merge(manifest, directory);
    if (chosen) merge(chosen, directory);
  };

  parse(path.resolve(manifestPath));
  return resolved;
}

/** Module specifiers `file` imports at run time: what tsc leaves (type-only imports go). */
export function runtimeImports(file: string): string[] {
  const source = fs.readFileSync(file, "utf8");
  const output = file.endsWith(".ts")
    ? ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.Preserve, target: ts.ScriptTarget.ES2022 },
        fileName: file,
      }).outputText
    : source;
  return ts.preProcessFile(output, true, true).importedFiles.map((entry) => entry.fileName);
}

/** XS resolves a relative specifier against the importing module's specifier. */
function resolveSpecifier(from: string, specifier: string): string {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return specifier;
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
}

/** Every import of a mapped project module that the manifest neither maps nor gets from the SDK. */
export function unmappedImports(manifest: ResolvedManifest): string[] {
  const problems: string[] = [];
  for (const [specifier, file] of manifest.modules) {
    if (file.startsWith(SDK_ROOT)) continue;
    for (const imported of runtimeImports(file)) {
      const target = resolveSpecifier(specifier, imported);
      if (!manifest.modules.has(target) && !manifest.provided.has(target)) {
        problems.push(
          `${specifier} imports "${imported}" (${target}), which the manifest does not map`,
        );
      }
    }
  }
  return problems;
}

/** Whether a preload entry ("src/*" or a specifier) names `specifier`. */
export function isPreloaded(manifest: ResolvedManifest, specifier: string): boolean {
  return manifest.preload.some((entry) =>
    entry.endsWith("*") ? specifier.startsWith(entry.slice(0, -1)) : entry === specifier,
  );
}

/**
 * Identifiers `xsc -c` reads differently from a plain engine in `file`: a call of a bare
 * `native(...)` or `Native(...)` declares a host function there (xs/sources/xsSyntaxical.c), so
 * neither name may appear at all. Returns "line:column name" for each.
 */
export function xscReservedIdentifiers(file: string): string[] {
  const source = ts.createSourceFile(
    file,
    fs.readFileSync(file, "utf8"),
    ts.ScriptTarget.Latest,
    true,
  );
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && (node.text === "native" || node.text === "Native")) {
      const at = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push(`${at.line + 1}:${at.character + 1} ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}
