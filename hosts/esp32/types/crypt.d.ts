// Message digests (modules/crypt/digest/crypt.js, native "kcl" implementations). Not in
// @moddable/typings 5.6.0; declared as the SDK's typings/crypt.d.ts does, which accepts only
// strings and ArrayBuffers in write() although the native code reads any byte buffer.
declare module "crypt" {
  export type DigestType = "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512";

  export class Digest {
    constructor(type: DigestType);
    write(message: string | ArrayBuffer): void;
    /** The digest; the instance must be reset() before it is written again. */
    close(): ArrayBuffer;
    reset(): void;
    readonly blockSize: number;
    readonly outputSize: number;
  }
}
