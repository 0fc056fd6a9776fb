// The helpers tsc's ES5 output calls, given to @rollup/plugin-typescript in place of tslib (which
// reaches for Symbol and Object.setPrototypeOf-based static inheritance, neither of which works on
// Espruino). Only what the code uses: classes, object spread, async functions. __generator
// follows tslib's state machine protocol (tslib is 0BSD; this is a reduced form of it).

/** Espruino does not inherit static methods: they are copied. */
export function __extends(derived, base) {
  var statics = Object.keys(base);
  for (var i = 0; i < statics.length; i++) derived[statics[i]] = base[statics[i]];
  function Prototype() {
    this.constructor = derived;
  }
  Prototype.prototype = base.prototype;
  derived.prototype = new Prototype();
}

export function __assign(target) {
  for (var i = 1; i < arguments.length; i++) {
    var source = arguments[i];
    if (source === undefined || source === null) continue;
    var keys = Object.keys(source);
    for (var k = 0; k < keys.length; k++) target[keys[k]] = source[keys[k]];
  }
  return target;
}

/** Drives a __generator state machine with Promises: each await is a yield of the awaited value. */
export function __awaiter(thisArg, args, _promise, generator) {
  return new Promise(function (resolve, reject) {
    var machine = generator.apply(thisArg, args || []);
    function step(method, value) {
      var result;
      try {
        result = machine[method](value);
      } catch (error) {
        reject(error);
        return;
      }
      if (result.done) resolve(result.value);
      else
        Promise.resolve(result.value).then(
          function (next) {
            step("next", next);
          },
          function (error) {
            step("throw", error);
          },
        );
    }
    step("next", undefined);
  });
}

/**
 * The body is tsc's switch over `state.label`; it returns instructions [op, value]: 0 next,
 * 1 throw, 2 return, 3 break to a label, 4 yield, 5 delegate to another generator (tsc's
 * `_loop_1` for a loop whose body awaits and holds a closure over its variables), 6 caught,
 * 7 end of finally. `state.trys` holds [try, catch, finally, end] labels of the enclosing try
 * statements.
 */
export function __generator(thisArg, body) {
  var state = {
    label: 0,
    sent: function () {
      if (sent[0] & 1) throw sent[1];
      return sent[1];
    },
    trys: [],
    ops: [],
  };
  var running = false;
  var sent;
  var done = false;
  var delegate;
  function step(op) {
    if (running) throw new Error("Generator is already executing.");
    while (!done) {
      running = true;
      try {
        if (delegate) {
          var inner = delegate[op[0] === 2 ? "return" : op[0] ? "throw" : "next"](op[1]);
          if (!inner.done) return inner;
          delegate = undefined;
          op = [op[0] & 2, inner.value];
        }
        var handled = false;
        var t;
        switch (op[0]) {
          case 0:
          case 1:
            sent = op;
            break;
          case 4:
            state.label++;
            running = false;
            return { value: op[1], done: false };
          case 5:
            state.label++;
            delegate = op[1];
            op = [0, undefined];
            handled = true;
            break;
          case 7:
            op = state.ops.pop();
            state.trys.pop();
            handled = true;
            break;
          default:
            t = state.trys.length > 0 ? state.trys[state.trys.length - 1] : undefined;
            if (!t && (op[0] === 6 || op[0] === 2)) {
              done = true;
              handled = true;
              break;
            }
            if (op[0] === 3 && (!t || (op[1] > t[0] && op[1] < t[3]))) {
              state.label = op[1];
              break;
            }
            if (op[0] === 6 && state.label < t[1]) {
              state.label = t[1];
              sent = op;
              break;
            }
            if (t && state.label < t[2]) {
              state.label = t[2];
              state.ops.push(op);
              break;
            }
            if (t[2]) state.ops.pop();
            state.trys.pop();
            handled = true;
        }
        if (!handled) op = body.call(thisArg, state);
      } catch (error) {
        op = [6, error];
        delegate = undefined;
      } finally {
        running = false;
      }
    }
    if (op[0] & 5) throw op[1];
    return { value: op[0] ? op[1] : undefined, done: true };
  }
  return {
    next: function (value) {
      return step([0, value]);
    },
    throw: function (value) {
      return step([1, value]);
    },
    return: function (value) {
      return step([2, value]);
    },
  };
}
