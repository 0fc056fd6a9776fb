// The cost of one signature check: ECDSA P-256 and RSA-3072-PSS (the Secure Boot V2 blocks
// espsecure wrote), the portable verifiers in XS (time and compute meter) and in Node, Node's native
// verifiers, and, measured in the same XS run, the SHA-256 of a 1 MiB image, to put the check in
// terms of bytes hashed.

import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleCases, openXs } from "../../test/xs/engine";
import { figure, inFreshNode } from "./section";
import { HASH_SIZE, SBV2_RUNS, type Timing } from "./signature-workload";

const here = path.dirname(fileURLToPath(import.meta.url));
const workload = path.join(here, "signature-workload.ts");

async function inXs(): Promise<{
  timings: Record<string, Timing>;
  compute: Record<string, number>;
}> {
  const xs = await openXs(
    await bundleCases([{ name: "signature", file: workload }]),
    "otaflow-bench",
  );
  const timings: Record<string, Timing> = {};
  const compute: Record<string, number> = {};
  try {
    for (const name of ["verify in xs", "sha256 of 1 MiB", "sbv2 rsa timed", "sbv2 ecdsa timed"]) {
      const outcome = await xs.run(`signature/${name}`, 600_000);
      if (!outcome.ok) throw new Error(`XS ${name}: ${outcome.error}`);
      timings[name] = JSON.parse(outcome.result) as Timing;
    }
    for (const name of ["sbv2 setup", "sbv2 rsa setup", "sbv2 rsa", "sbv2 ecdsa"]) {
      const outcome = await xs.run(`signature/${name}`, 600_000);
      if (!outcome.ok) throw new Error(`XS ${name}: ${outcome.error}`);
      if (outcome.result !== '"true"')
        throw new Error(`XS ${name} did not verify: ${outcome.result}`);
      if (outcome.compute === undefined) throw new Error("xsnap gave no compute meter");
      compute[name] = outcome.compute;
    }
  } finally {
    await xs.close();
  }
  return { timings, compute };
}

export const title = "Signature check (ECDSA P-256, RSA-3072)";

export async function run(): Promise<string> {
  const { timings: xs, compute } = await inXs();
  const node = inFreshNode(workload, ["verify in node"])["verify in node"] as Timing;
  const native = (
    inFreshNode(path.join(here, "signature-native.ts"), ["verify"]) as Record<string, Timing>
  ).verify;
  const rsaNode = inFreshNode(path.join(here, "signature-rsa-node.ts"), [
    "portable",
    "native",
  ]) as Record<string, Timing>;
  for (const [label, timing] of [
    ["XS", xs["verify in xs"]],
    ["XS RSA", xs["sbv2 rsa timed"]],
    ["XS SBv2 ECDSA", xs["sbv2 ecdsa timed"]],
    ["Node", node],
    ["Node native", native],
    ["Node RSA", rsaNode.portable],
    ["Node native RSA", rsaNode.native],
  ] as const) {
    if (timing.result !== "true") throw new Error(`${label} did not verify the signature`);
  }
  const verify = xs["verify in xs"].ms;
  const hash = xs["sha256 of 1 MiB"].ms;
  const kib = (verify / hash) * (HASH_SIZE / 1024);
  const row = (engine: string, what: string, timing: Timing) =>
    `| ${engine} | ${what} | ${figure(timing.ms)} | ${timing.runs} |`;
  const rsaCompute = (compute["sbv2 rsa"] - compute["sbv2 rsa setup"]) / SBV2_RUNS;
  const ecdsaCompute = (compute["sbv2 ecdsa"] - compute["sbv2 setup"]) / SBV2_RUNS;
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
    row("XS (xsnap)", "SBv2 block, ECDSA P-256, portable", xs["sbv2 ecdsa timed"]),
    row("XS (xsnap)", "SBv2 block, RSA-3072-PSS, portable", xs["sbv2 rsa timed"]),
    row("Node (V8)", "SBv2 block, RSA-3072-PSS, portable", rsaNode.portable),
    row("Node (V8)", "SBv2 block, RSA-3072-PSS, native", rsaNode.native),
    "",
    "The SBv2 rows verify block 0 of the sectors espsecure wrote (test/fixtures/espsecure,",
    "src/core/signature/sector.ts `verifyBlock`; Node's native RSA row verifies the same signature",
    "with `crypto.verify`, which hashes the 32 KiB image too). xsnap's compute meter, per",
    `verification (the meter of ${SBV2_RUNS} verifications less that of none, over ${SBV2_RUNS}):`,
    "",
    "| scheme | XS compute per verification |",
    "|---|---|",
    `| ECDSA P-256 | ${figure(ecdsaCompute)} |`,
    `| RSA-3072-PSS (e = 65537) | ${figure(rsaCompute)} |`,
    "",
    `- In XS an RSA-3072 check costs ${figure(rsaCompute / ecdsaCompute, 2)}× the compute of an ` +
      `ECDSA P-256 check (${figure(xs["sbv2 rsa timed"].ms / xs["sbv2 ecdsa timed"].ms, 2)}× ` +
      "its time).",
    `- In XS one signature check costs as much as hashing ${figure(kib, 2)} KiB ` +
      `(${figure((verify / hash) * 100, 2)} % of the SHA-256 of a 1 MiB image).`,
    `- The portable verifier in Node takes ${figure(node.ms / native.ms, 2)}× the time of ` +
      "Node's native one.",
  ].join("\n");
}
