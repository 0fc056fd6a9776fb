// The KeyValueStore of the Linux target: one JSON file beside the slots, replaced atomically at
// every set and delete, as NVS commits, with NVS's limits. Moddable's Preference cannot serve
// here: the app's preloaded modules import it, so it is preloaded too, and its Linux version then
// keeps its cache in a preloaded object that JSON.stringify refuses ("read only value") inside a
// try/catch: nothing is ever saved, and a journal would not survive the app being killed.
import type { KeyValueStore } from "../../src/core/ports";
import { checkName, checkValue } from "../esp32/store";
import { readText, writeText } from "./files";

export function fileStore(path: string): KeyValueStore {
  const load = (): Record<string, unknown> => {
    const text = readText(path);
    if (text === undefined) return {};
    try {
      const value: unknown = JSON.parse(text);
      return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
    } catch {
      // A torn file reads as empty, as NVS drops an entry it cannot read.
      return {};
    }
  };
  return {
    async get(key) {
      checkName("key", key);
      const value = load()[key];
      return typeof value === "string" ? value : undefined;
    },
    async set(key, value) {
      checkName("key", key);
      checkValue(key, value);
      const entries = load();
      entries[key] = value;
      writeText(path, JSON.stringify(entries));
    },
    async delete(key) {
      checkName("key", key);
      const entries = load();
      if (!(key in entries)) return;
      delete entries[key];
      writeText(path, JSON.stringify(entries));
    },
  };
}
