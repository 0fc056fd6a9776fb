// The KeyValueStore port over Moddable's Preference, i.e. ESP-IDF NVS on the board (a JSON file on
// the Linux target). NVS refuses keys and namespaces longer than 15 characters and strings of 4000
// bytes or more with their terminating NUL (nvs_set_str), so 3999 bytes of UTF-8 at most; every
// set/delete commits (flash wear). The limits are checked here, with a message, rather than left
// to Preference's bare "nvs set fail".
import Preference from "preference";
import { otaError } from "../../src/core/errors";
import type { KeyValueStore } from "../../src/core/ports";
import { utf8Encode } from "../../src/core/util/bytes";

export const MAX_NAME_LENGTH = 15;
/** nvs_set_str's 4000 bytes, less the NUL it stores. */
export const MAX_VALUE_BYTES = 3999;

export function checkName(what: string, name: string): void {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH)
    throw otaError(
      "internal",
      `NVS ${what} "${name}" must be 1 to ${MAX_NAME_LENGTH} characters long`,
    );
}

export function checkValue(key: string, value: string): void {
  const bytes = utf8Encode(value).length;
  if (bytes > MAX_VALUE_BYTES)
    throw otaError(
      "internal",
      `NVS value for "${key}" is ${bytes} bytes, more than the ${MAX_VALUE_BYTES} allowed`,
    );
}

export function preferenceStore(domain: string): KeyValueStore {
  checkName("domain", domain);
  return {
    async get(key) {
      checkName("key", key);
      const value = Preference.get(domain, key);
      // A value of another type was not written by this store: it is not ours to interpret.
      return typeof value === "string" ? value : undefined;
    },
    async set(key, value) {
      checkName("key", key);
      checkValue(key, value);
      Preference.set(domain, key, value);
    },
    async delete(key) {
      checkName("key", key);
      Preference.delete(domain, key);
    },
  };
}
