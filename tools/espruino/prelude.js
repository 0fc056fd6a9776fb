// otaflow prelude for Espruino 2v2x, run before the bundle. Espruino resolves built-in methods
// without their prototypes: Array.prototype.slice is undefined while [].slice works (docs/ENGINES.md,
// trap 2). Code that reaches a method through a prototype gets it once it is copied there.
(function () {
  function copy(prototype, instance, names) {
    for (var i = 0; i < names.length; i++) {
      var name = names[i];
      if (prototype[name] === undefined && instance[name] !== undefined)
        prototype[name] = instance[name];
    }
  }
  copy(Object.prototype, {}, ["hasOwnProperty", "isPrototypeOf", "toString", "valueOf"]);
  copy(Function.prototype, function () {}, ["apply", "bind", "call"]);
  copy(
    Array.prototype,
    [],
    [
      "concat",
      "every",
      "filter",
      "forEach",
      "indexOf",
      "join",
      "lastIndexOf",
      "map",
      "pop",
      "push",
      "reduce",
      "reverse",
      "shift",
      "slice",
      "some",
      "sort",
      "splice",
      "unshift",
    ],
  );
  copy(String.prototype, "", [
    "charAt",
    "charCodeAt",
    "indexOf",
    "lastIndexOf",
    "replace",
    "slice",
    "split",
    "substr",
    "substring",
    "toLowerCase",
    "toUpperCase",
    "trim",
  ]);
  copy(Number.prototype, 0, ["toFixed", "toString"]);
  copy(Uint8Array.prototype, new Uint8Array(1), [
    "fill",
    "forEach",
    "indexOf",
    "join",
    "map",
    "reduce",
    "set",
    "slice",
    "subarray",
  ]);
  copy(Promise.prototype, Promise.resolve(), ["catch", "then"]);
})();
