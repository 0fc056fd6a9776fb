// Command-line parsing shared by the commands: node:util's parseArgs with a help text per command.
import { parseArgs, type ParseArgsConfig } from "node:util";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export class UsageError extends Error {}

export type Values = Record<string, string | boolean | string[] | undefined>;

export function parse(argv: string[], options: Options, usage: string): Values {
  try {
    const all: Options = { ...options, help: { type: "boolean", short: "h" } };
    return parseArgs({ args: argv, options: all, strict: true }).values as Values;
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${usage}`);
  }
}

export function required(values: Record<string, unknown>, name: string, usage: string): string {
  const value = values[name];
  if (typeof value !== "string" || value === "")
    throw new UsageError(`--${name} is required\n\n${usage}`);
  return value;
}

export function integer(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const scaled = /^(\d+)\s*([kKmM]i?[bB]?)?$/.exec(text);
  if (!scaled)
    throw new UsageError(
      `--${name} must be a whole number (e.g. 1048576, 512KiB, 4MiB), not "${text}"`,
    );
  const unit = (scaled[2] || "").toLowerCase();
  const factor = unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 * 1024 : 1;
  return Number(scaled[1]) * factor;
}
