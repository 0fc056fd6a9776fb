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
