// The cost of one ECDSA P-256 signature check: the portable verifier in XS and in Node, Node's
// native verifier, and, measured in the same XS run, the SHA-256 of a 1 MiB image, to put the check
// in terms of bytes hashed.

import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCases, openXs } from "../../test/xs/engine";
import { figure, inFreshNode } from "./section";
import { HASH_SIZE, type Timing } from "./signature-workload";

const here = path.dirname(fileURLToPath(import.meta.url));
const workload = path.join(here, "signature-workload.ts");

async function inXs(): Promise<Record<string, Timing>> {
  const xs = await openXs(
    await bundleCases([{ name: "signature", file: workload }]),
    "otaflow-bench",
  );
  const results: Record<string, Timing> = {};
  try {
    for (const name of ["verify in xs", "sha256 of 1 MiB"]) {
      const outcome = await xs.run(`signature/${name}`, 600_000);
      if (!outcome.ok) throw new Error(`XS ${name}: ${outcome.error}`);
      results[name] = JSON.parse(outcome.result) as Timing;
    }
  } finally {
    await xs.close();
  }
  return results;
}

export const title = "Signature check (ECDSA P-256)";

export async function run(): Promise<string> {
  const xs = await inXs();
  const node = inFreshNode(workload, ["verify in node"])["verify in node"] as Timing;
  const native = (
    inFreshNode(path.join(here, "signature-native.ts"), ["verify"]) as Record<string, Timing>
  ).verify;
  for (const [label, timing] of [
    ["XS", xs["verify in xs"]],
    ["Node", node],
    ["Node native", native],
  ] as const) {
    if (timing.result !== "true") throw new Error(`${label} did not verify the signature`);
  }
  const verify = xs["verify in xs"].ms;
  const hash = xs["sha256 of 1 MiB"].ms;
  const kib = (verify / hash) * (HASH_SIZE / 1024);
  const row = (engine: string, what: string, timing: Timing) =>
    `| ${engine} | ${what} | ${figure(timing.ms)} | ${timing.runs} |`;
  return [
    "One verification of the same signature (the key, digest and signature of vector 0 in",
    "test/xs/cases/signature.ts): the portable verifier (src/core/signature/p256.ts) bundled into",
    "xsnap with the intrinsics frozen as in a Moddable app and in a fresh Node process",
    "(tools/bench/signature-workload.ts), and Node's `crypto.verify` (OpenSSL) over the signed",
    "message (tools/bench/signature-native.ts). Each figure is the median of its runs after a",
    "warm-up run. The SHA-256 row is the portable hash of 1 MiB in 16 KiB chunks, in the same XS",
    "worker as the XS verification.",
    "",
    "| engine | operation | median (ms) | runs |",
    "|---|---|---|---|",
    row("XS (xsnap)", "verify, portable", xs["verify in xs"]),
    row("XS (xsnap)", "SHA-256 of 1 MiB, portable", xs["sha256 of 1 MiB"]),
    row("Node (V8)", "verify, portable", node),
    row("Node (V8)", "verify, native", native),
    "",
    `- In XS one signature check costs as much as hashing ${figure(kib, 2)} KiB ` +
      `(${figure((verify / hash) * 100, 2)} % of the SHA-256 of a 1 MiB image).`,
    `- The portable verifier in Node takes ${figure(node.ms / native.ms, 2)}× the time of ` +
      "Node's native one.",
  ].join("\n");
}
