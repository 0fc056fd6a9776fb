// Freezes the intrinsics the way a Moddable app has them after preload: the primordials, their
// prototypes, and everything reachable from them. In that world `Error.prototype.name = ...`,
// `Array.prototype.x = ...` or assigning an inherited property such as `toString` on an ordinary
// object (the "override mistake") throws in strict code; xsnap and Node do not do this by
// themselves. Evaluated in each engine before the bundle under test.

const INTRINSICS = (
  "Object Function Array Number parseFloat parseInt Boolean String Symbol BigInt Math JSON " +
  "Reflect Proxy Promise Date RegExp Map Set WeakMap WeakSet WeakRef FinalizationRegistry " +
  "ArrayBuffer SharedArrayBuffer DataView Atomics Int8Array Uint8Array Uint8ClampedArray " +
  "Int16Array Uint16Array Int32Array Uint32Array Float32Array Float64Array BigInt64Array " +
  "BigUint64Array Error EvalError RangeError ReferenceError SyntaxError TypeError URIError " +
  "AggregateError decodeURI decodeURIComponent encodeURI encodeURIComponent escape unescape " +
  "eval isFinite isNaN TextEncoder TextDecoder"
).split(" ");

function deepFreeze(root: unknown): void {
  const seen = new Set<unknown>();
  const stack = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if ((typeof value !== "object" && typeof value !== "function") || value === null) continue;
    if (seen.has(value)) continue;
    seen.add(value);
    Object.freeze(value);
    stack.push(Object.getPrototypeOf(value));
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (!descriptor) continue;
      stack.push(descriptor.value, descriptor.get, descriptor.set);
    }
  }
}

const scope = globalThis as unknown as Record<string, unknown>;
const roots: unknown[] = [];
for (const name of INTRINSICS) if (scope[name] !== undefined) roots.push(scope[name]);
// Also the intrinsics with no global name (%TypedArray%, generator and async prototypes...).
roots.push(Object.getPrototypeOf(Int8Array));
roots.push(Object.getPrototypeOf(async function () {}));
roots.push(Object.getPrototypeOf(function* () {}));
roots.push(Object.getPrototypeOf(async function* () {}));
roots.push(Object.getPrototypeOf([][Symbol.iterator]()));
deepFreeze(roots);

// What a Moddable app's preload leaves of a module's top-level values (test/xs/preload.ts calls
// this after each preloaded module's body): everything reachable deep-frozen. Built-ins whose
// contents freezing does not cover get the errors XS gives for them ("XS linker warnings" in the
// SDK's documentation): their mutators throw, and typed arrays, which cannot be frozen while they
// have elements, at least refuse the methods that write.
const MUTATORS: [unknown, string[]][] = [
  [Map.prototype, ["set", "delete", "clear"]],
  [Set.prototype, ["add", "delete", "clear"]],
  [WeakMap.prototype, ["set", "delete"]],
  [WeakSet.prototype, ["add", "delete"]],
  [Object.getPrototypeOf(Int8Array.prototype), ["set", "fill", "copyWithin", "reverse", "sort"]],
  [
    DataView.prototype,
    "setInt8 setUint8 setInt16 setUint16 setInt32 setUint32 setFloat32 setFloat64 setBigInt64 setBigUint64".split(
      " ",
    ),
  ],
];

function refuseWrites(value: object): boolean {
  let refused = false;
  for (const [prototype, methods] of MUTATORS) {
    if (!Object.prototype.isPrototypeOf.call(prototype, value)) continue;
    for (const method of methods) {
      Object.defineProperty(value, method, {
        value() {
          throw new TypeError(`${method}: read-only (preloaded)`);
        },
      });
    }
    refused = true;
  }
  return refused;
}

function preloaded(values: unknown[]): void {
  const seen = new Set<unknown>();
  const stack = [...values];
  while (stack.length > 0) {
    const value = stack.pop();
    if ((typeof value !== "object" && typeof value !== "function") || value === null) continue;
    if (seen.has(value) || Object.isFrozen(value)) continue;
    seen.add(value);
    refuseWrites(value);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      Object.preventExtensions(value);
      continue;
    }
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (descriptor) stack.push(descriptor.value, descriptor.get, descriptor.set);
    }
    stack.push(Object.getPrototypeOf(value));
  }
}
scope.preloaded = preloaded;
