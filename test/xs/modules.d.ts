// The little the harness uses of two untyped packages.

declare module "@agoric/xsnap" {
  interface RunResult {
    reply: Uint8Array;
    /** compute: the xsnap compute meter of the command (null where metering is off). */
    meterUsage: { compute: number | null };
  }
  export interface XSnap {
    evaluate(code: string): Promise<RunResult>;
    issueCommand(message: Uint8Array): Promise<RunResult>;
    close(): Promise<void>;
    terminate(): Promise<void>;
  }
  export function xsnap(options: {
    os: string;
    spawn: typeof import("node:child_process").spawn;
    fs: object;
    name?: string;
    stdout?: "ignore" | "inherit" | "pipe";
    stderr?: "ignore" | "inherit" | "pipe";
    meteringLimit?: number;
    handleCommand?: (request: Uint8Array) => Promise<Uint8Array>;
  }): Promise<XSnap>;
}

declare module "tmp" {
  const tmp: { tmpName(...args: unknown[]): void };
  export default tmp;
}
