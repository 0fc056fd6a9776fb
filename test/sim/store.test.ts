// The key-value store in the nvs partition: NVS limits, compaction, and power cuts at every byte.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { FlashFile, isPowerCut } from "../../hosts/node/flash";
import { findPartition, readPartitionTable } from "../../hosts/node/partitions";
import { FlashKeyValueStore, MAX_VALUE_BYTES } from "../../hosts/node/store";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-store-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => path.join(dir, `s${files++}.flash`);

function newFlash(): FlashFile {
  return FlashFile.create(newFile(), { size: 1024 * 1024 });
}

function copyOf(flash: FlashFile): FlashFile {
  const file = newFile();
  fs.copyFileSync(flash.path, file);
  return FlashFile.open(file);
}

async function contents(store: FlashKeyValueStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of store.keys()) out[key] = (await store.get(key))!;
  return out;
}

/** Runs `action` on a fresh store over `flash`, cutting the power at `bytes` of operation `cut`. */
async function runWithCut(
  flash: FlashFile,
  cut: number,
  bytes: number,
  action: (store: FlashKeyValueStore) => Promise<void>,
): Promise<boolean> {
  const start = flash.operations;
  flash.beforeOperation = (_kind, index) => (index - start === cut ? bytes : undefined);
  try {
    await action(new FlashKeyValueStore(flash));
    return false;
  } catch (error) {
    if (!isPowerCut(error)) throw error;
    return true;
  } finally {
    flash.beforeOperation = undefined;
  }
}

/** The erases and writes `action` makes, as [kind, length], found on a copy of the flash. */
async function operationsOf(
  flash: FlashFile,
  action: (store: FlashKeyValueStore) => Promise<void>,
): Promise<[string, number][]> {
  const copy = copyOf(flash);
  const seen: [string, number][] = [];
  copy.beforeOperation = (kind, _index, _offset, length) => void seen.push([kind, length]);
  await action(new FlashKeyValueStore(copy));
  copy.close();
  fs.rmSync(copy.path);
  return seen;
}

/** Deterministic pseudo-random numbers (xorshift32), so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

describe("FlashKeyValueStore", () => {
  it("keeps values across reopening, and deletes", async () => {
    const flash = newFlash();
    const store = new FlashKeyValueStore(flash);
    assert.equal(await store.get("journal"), undefined);
    await store.set("journal", '{"offset":4096}');
    await store.set("version", "1.0.0");
    await store.set("journal", '{"offset":8192}');
    await store.set("unicode", "déjà vu ✓");
    await store.delete("version");
    const again = new FlashKeyValueStore(flash);
    assert.deepEqual(await contents(again), { journal: '{"offset":8192}', unicode: "déjà vu ✓" });
    assert.equal(await again.get("version"), undefined);
    flash.close();
  });

  it("writes nothing for a value it already holds or a key it does not", async () => {
    const flash = newFlash();
    const store = new FlashKeyValueStore(flash);
    await store.set("a", "1");
    const operations = flash.operations;
    await store.set("a", "1");
    await store.delete("missing");
    assert.equal(flash.operations, operations);
    flash.close();
  });

  it("enforces the NVS limits with clear errors", async () => {
    const flash = newFlash();
    const store = new FlashKeyValueStore(flash);
    await store.set("k".repeat(15), "x");
    await assert.rejects(store.set("k".repeat(16), "x"), /key "k{16}" must be 1 to 15 characters/);
    await assert.rejects(store.set("", "x"), /must be 1 to 15 characters/);
    await assert.rejects(
      store.get("é".repeat(8)),
      /must be 1 to 15 characters \(the NVS limit\), not 16/,
    );
    await store.set("big", "v".repeat(MAX_VALUE_BYTES));
    await assert.rejects(store.set("big", "v".repeat(4001)), /is 4001 bytes; the limit is 4000/);
    await assert.rejects(store.set("big", "€".repeat(1334)), /is 4002 bytes/);
    assert.equal((await new FlashKeyValueStore(flash).get("big"))!.length, 4000);
    flash.close();
  });

  it("compacts as it goes and stays inside the nvs partition", async () => {
    const flash = newFlash();
    const nvs = findPartition(readPartitionTable(flash), "nvs");
    flash.beforeOperation = (_kind, _index, offset, length) => {
      assert.ok(offset >= nvs.offset && offset + length <= nvs.offset + nvs.size);
    };
    let store = new FlashKeyValueStore(flash);
    const model: Record<string, string> = {};
    const next = random(7);
    for (let i = 0; i < 3000; i++) {
      const key = `key${Math.floor(next() * 12)}`;
      if (next() < 0.1) {
        await store.delete(key);
        delete model[key];
      } else {
        model[key] = `${i}:`.padEnd(Math.floor(next() * 600), "=");
        await store.set(key, model[key]);
      }
      if (i % 500 === 499) store = new FlashKeyValueStore(flash);
    }
    assert.ok(flash.operations > 6000, "the log went round the partition many times");
    assert.deepEqual(await contents(new FlashKeyValueStore(flash)), model);
    flash.close();
  });

  it("says when it is full and stays usable", async () => {
    const flash = newFlash();
    const store = new FlashKeyValueStore(flash);
    const value = "v".repeat(MAX_VALUE_BYTES);
    let stored = 0;
    await assert.rejects(async () => {
      for (;;) await store.set(`k${stored++}`, value);
    }, /the key-value store is full/);
    stored--;
    assert.ok(stored >= 2, `${stored} large values fit`);
    const reopened = new FlashKeyValueStore(flash);
    assert.equal(reopened.keys().length, stored);
    await reopened.delete("k0");
    await reopened.set(`k${stored}`, value);
    assert.equal(new FlashKeyValueStore(flash).keys().length, stored);
    flash.close();
  });
});

describe("FlashKeyValueStore: power cuts", () => {
  const base = { journal: '{"url":"http://h/fw.bin","offset":12288}', version: "1.0.0" };

  async function seeded(): Promise<FlashFile> {
    const flash = newFlash();
    const store = new FlashKeyValueStore(flash);
    for (const [k, v] of Object.entries(base)) await store.set(k, v);
    return flash;
  }

  /** Cuts `action` at every byte of every operation it makes; the store must show before or after. */
  async function everyByte(
    template: FlashFile,
    action: (store: FlashKeyValueStore) => Promise<void>,
    before: Record<string, string>,
    done: Record<string, string>,
    stride = 1,
  ): Promise<number> {
    const operations = await operationsOf(template, action);
    let cases = 0;
    for (let op = 0; op < operations.length; op++) {
      const length = operations[op][1];
      const points = new Set([0, 1, length - 1]);
      for (let bytes = 0; bytes < length; bytes += stride) points.add(bytes);
      for (const bytes of [...points].filter((b) => b >= 0 && b < length)) {
        const flash = copyOf(template);
        assert.ok(await runWithCut(flash, op, bytes, action), `operation ${op} was cut`);
        const where = `cut in operation ${op} (${operations[op][0]}) at byte ${bytes}`;
        const store = new FlashKeyValueStore(flash);
        const seen = await contents(store);
        assert.ok(
          JSON.stringify(seen) === JSON.stringify(before) ||
            JSON.stringify(seen) === JSON.stringify(done),
          `${where}: ${JSON.stringify(seen)}`,
        );
        // Still writable through at least one more compaction, and that survives a reload.
        for (let n = 0; n < 12; n++) await store.set("after", `${n}`.padEnd(700, "+"));
        const last = "11".padEnd(700, "+");
        assert.deepEqual(
          await contents(new FlashKeyValueStore(flash)),
          { ...seen, after: last },
          where,
        );
        flash.close();
        fs.rmSync(flash.path);
        cases++;
      }
    }
    return cases;
  }

  it("survives a cut at every byte of a record being set", async () => {
    const template = await seeded();
    const value = '{"url":"http://h/fw.bin","offset":16384}';
    const cases = await everyByte(template, (store) => store.set("journal", value), base, {
      ...base,
      journal: value,
    });
    assert.ok(cases > 60, `${cases} cuts`);
    template.close();
  });

  it("survives a cut at every byte of a delete", async () => {
    const template = await seeded();
    const { version } = base;
    await everyByte(template, (store) => store.delete("journal"), base, { version });
    template.close();
  });

  it("survives a cut anywhere in a set that starts a sector or compacts", async () => {
    // Fill until the next set must start a new sector, then until it must compact the oldest.
    for (const stop of ["erase-then-header", "compaction"]) {
      const template = await seeded();
      let store = new FlashKeyValueStore(template);
      const filler = "f".repeat(900);
      let i = 0;
      for (;;) {
        const operations = await operationsOf(template, (s) => s.set(`fill${i % 3}`, filler + i));
        const erases = operations.filter(([kind]) => kind === "erase").length;
        if ((stop === "compaction" && erases >= 2) || (stop !== "compaction" && erases === 1))
          break;
        await store.set(`fill${i % 3}`, filler + i);
        i++;
      }
      store = new FlashKeyValueStore(template);
      const before = await contents(store);
      const key = `fill${i % 3}`;
      const cases = await everyByte(
        template,
        (s) => s.set(key, filler + i),
        before,
        { ...before, [key]: filler + i },
        97,
      );
      assert.ok(cases > 20, `${stop}: ${cases} cuts`);
      template.close();
    }
  });

  it("keeps every acknowledged write through random power cuts", async () => {
    const flash = newFlash();
    const model: Record<string, string> = {};
    const next = random(2024);
    let cuts = 0;
    for (let i = 0; i < 1000; i++) {
      const key = `k${Math.floor(next() * 6)}`;
      const value = next() < 0.15 ? undefined : `${i}`.padEnd(Math.floor(next() * 1500), "#");
      const action = (store: FlashKeyValueStore) =>
        value === undefined ? store.delete(key) : store.set(key, value);
      const cut = next() < 0.4;
      const wasCut = await runWithCut(
        flash,
        cut ? Math.floor(next() * 6) : -1,
        Math.floor(next() * 64),
        action,
      );
      const seen = await contents(new FlashKeyValueStore(flash));
      const expected = { ...model };
      if (value === undefined) delete expected[key];
      else expected[key] = value;
      if (wasCut) {
        cuts++;
        const others = { ...seen };
        const modelOthers = { ...model };
        delete others[key];
        delete modelOthers[key];
        assert.deepEqual(others, modelOthers, `step ${i}: other keys intact`);
        assert.ok(seen[key] === model[key] || seen[key] === expected[key], `step ${i}: ${key}`);
        if (seen[key] === undefined) delete model[key];
        else model[key] = seen[key];
      } else {
        assert.deepEqual(seen, expected, `step ${i}`);
        Object.keys(model).forEach((k) => delete model[k]);
        Object.assign(model, expected);
      }
    }
    assert.ok(cuts > 80, `${cuts} power cuts`);
    flash.close();
  });
});
