// Espruino's built-in modules. Its require() is the firmware handing over a native module at run
// time, not a module import: the bundle has no loader, so the lint rule against require() does
// not apply here.
/* eslint-disable @typescript-eslint/no-require-imports */

export function storageModule(): EspruinoStorage {
  return require("Storage");
}

export function httpModule(): EspruinoHttp {
  return require("http");
}

export function netModule(tls: boolean): EspruinoNet {
  return require(tls ? "tls" : "net");
}

/** Throws on a build without the crypto module. */
export function cryptoModule(): EspruinoCrypto {
  return require("crypto");
}
