import { writeImageFile, type SelfTestBehaviour } from "../image/build";
import { integer, parse, required, UsageError } from "./args";

export const IMAGE_USAGE = `Usage: otaflow image --version 1.2.0 [--size BYTES] [--self-test pass|fail|crash|hang] --out FILE

Writes a real ESP-IDF app image (header, segments, app descriptor, checksum byte, appended SHA-256)
that the simulated board boots. --self-test chooses what the image does on its first boot:
  pass   confirms itself once the cloud is reachable (default)
  fail   reports its self-test failed, marks itself invalid and reboots
  crash  resets before confirming, every boot
  hang   never confirms; the task watchdog resets it
Options: --project NAME (default otaflow-sim), --secure-version N, --seed N (filler bytes).`;

const BEHAVIOURS = ["pass", "fail", "crash", "hang"];

export function imageCommand(argv: string[]): void {
  const values = parse(
    argv,
    {
      version: { type: "string" },
      size: { type: "string" },
      "self-test": { type: "string" },
      out: { type: "string", short: "o" },
      project: { type: "string" },
      "secure-version": { type: "string" },
      seed: { type: "string" },
    },
    IMAGE_USAGE,
  );
  if (values.help) return console.log(IMAGE_USAGE);
  const selfTest = (values["self-test"] as string | undefined) ?? "pass";
  if (!BEHAVIOURS.includes(selfTest)) {
    throw new UsageError(`--self-test must be one of ${BEHAVIOURS.join(", ")}, not "${selfTest}"`);
  }
  const out = required(values, "out", IMAGE_USAGE);
  const image = writeImageFile(out, {
    version: required(values, "version", IMAGE_USAGE),
    size: integer(values.size, "size"),
    selfTest: selfTest as SelfTestBehaviour,
    project: values.project as string | undefined,
    secureVersion: integer(values["secure-version"], "secure-version"),
    seed: integer(values.seed, "seed"),
  });
  console.log(`${out}: ${image.length} bytes, version ${values.version}, self-test ${selfTest}`);
}
