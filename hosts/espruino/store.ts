// The KeyValueStore port (and so the journal and the update record) over Storage: one small file
// per key, "otaflow.kv.<key>" (Storage names are at most 28 characters). The value is stored as
// UTF-8 after a one-byte marker, because Storage cannot hold an empty file.
import { otaError } from "../../src/core/errors";
import type { KeyValueStore } from "../../src/core/ports";
import { utf8Decode, utf8Encode } from "../../src/core/util/bytes";
import { binaryOf, bytesOf } from "./binary";

const PREFIX = "otaflow.kv.";
const MARKER = "=";
const MAX_KEY = 15;
const MAX_VALUE = 4000;

export function storageStore(storage: EspruinoStorage): KeyValueStore {
  const fileOf = (key: string): string => {
    if (key.length === 0 || key.length > MAX_KEY)
      throw otaError("internal", `store key "${key}" is not 1 to ${MAX_KEY} characters`);
    return PREFIX + key;
  };
  return {
    get(key) {
      const text = storage.read(fileOf(key));
      if (text === undefined || text.charAt(0) !== MARKER) return Promise.resolve(undefined);
      return Promise.resolve(utf8Decode(bytesOf(text.substring(1))));
    },
    set(key, value) {
      const bytes = utf8Encode(value);
      if (bytes.length > MAX_VALUE)
        return Promise.reject(otaError("internal", `value of "${key}" exceeds ${MAX_VALUE} bytes`));
      if (!storage.write(fileOf(key), MARKER + binaryOf(bytes)))
        return Promise.reject(otaError("flash", `Storage refused to write ${fileOf(key)}`));
      return Promise.resolve();
    },
    delete(key) {
      storage.erase(fileOf(key));
      return Promise.resolve();
    },
  };
}
