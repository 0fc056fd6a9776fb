// Moddable's Preference on ESP32 (modules/files/preference/esp32/modPreference.c) over the board's
// NVS, with NVS's limits: namespace and key names of 15 characters at most, strings of at most
// 4000 bytes including their NUL, 32-bit integers only ("float unsupported").
import { utf8Encode } from "../../../../src/core/util/bytes";
import { call } from "./board";

type Value = string | boolean | number | ArrayBuffer;
const NAME_MAX = 15;
const STRING_MAX_WITH_NUL = 4000;

function checkNames(domain: string, key: string, operation: string): void {
  if (domain.length > NAME_MAX) throw new Error("nvs_open fail");
  if (key.length === 0 || key.length > NAME_MAX) throw new Error(`nvs ${operation} fail`);
}

const Preference = {
  set(domain: string, key: string, value: Value): void {
    checkNames(domain, key, "set");
    let stored: { type: string; value: unknown };
    if (typeof value === "boolean") stored = { type: "boolean", value };
    else if (typeof value === "number") {
      if (value !== (value | 0)) throw new Error("float unsupported");
      stored = { type: "number", value };
    } else if (typeof value === "string") {
      if (utf8Encode(value).length + 1 > STRING_MAX_WITH_NUL) throw new Error("nvs set fail");
      stored = { type: "string", value };
    } else if (value instanceof ArrayBuffer)
      stored = { type: "buffer", value: Array.from(new Uint8Array(value)) };
    else throw new Error("unsupported type");
    call("esp32.nvs.set", { domain, key, stored });
  },
  get(domain: string, key: string): Value | undefined {
    if (domain.length > NAME_MAX) return undefined;
    const stored = call<{ type: string; value: unknown } | null>("esp32.nvs.get", { domain, key });
    if (!stored) return undefined;
    if (stored.type === "buffer") return new Uint8Array(stored.value as number[]).buffer;
    return stored.value as Value;
  },
  delete(domain: string, key: string): void {
    checkNames(domain, key, "delete");
    call("esp32.nvs.delete", { domain, key });
  },
  keys(domain: string): string[] {
    return call<string[]>("esp32.nvs.keys", { domain });
  },
};

export default Preference;
