import { MODELLED_IDF_VERSION } from "../../hosts/node/bootloader";
import { CHIPS, chipNamed } from "../../hosts/node/chips";
import { BEHAVIOURS } from "../../hosts/node/sim-firmware";
import { writeImageFile, type SelfTestBehaviour } from "../image/build";
import { integer, parse, required, UsageError } from "./args";

const CHIP_NAMES = CHIPS.map((chip) => chip.name).join("|");

export const IMAGE_USAGE = `Usage: otaflow image --version 1.2.0 [--size BYTES] [--self-test pass|fail|crash|hang] [--chip ${CHIP_NAMES}] --out FILE

Writes a real ESP-IDF app image (header, segments, app descriptor, checksum byte, appended SHA-256)
that the simulated board boots. --self-test chooses what the image does on its first boot:
  pass   confirms itself once the cloud is reachable (default)
  fail   reports its self-test failed, marks itself invalid and reboots
  crash  resets before confirming, every boot
  hang   never confirms; the task watchdog resets it
Options: --project NAME (default otaflow-sim), --secure-version N, --seed N (filler bytes),
  --chip NAME   the chip the image is for: its id in the header, its memory map for the segments
                (default esp32; give the same --chip to otaflow device)
  --idf VERSION the app descriptor's idf_ver (default ${MODELLED_IDF_VERSION}, the ESP-IDF the simulator models)`;

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
      chip: { type: "string" },
      idf: { type: "string" },
    },
    IMAGE_USAGE,
  );
  if (values.help) return console.log(IMAGE_USAGE);
  const selfTest = (values["self-test"] as string | undefined) ?? "pass";
  if (!BEHAVIOURS.includes(selfTest as SelfTestBehaviour)) {
    throw new UsageError(`--self-test must be one of ${BEHAVIOURS.join(", ")}, not "${selfTest}"`);
  }
  const out = required(values, "out", IMAGE_USAGE);
  const chip = values.chip as string | undefined;
  if (chip !== undefined)
    try {
      chipNamed(chip);
    } catch (error) {
      throw new UsageError(`--chip: ${(error as Error).message}`);
    }
  const image = writeImageFile(out, {
    version: required(values, "version", IMAGE_USAGE),
    size: integer(values.size, "size"),
    selfTest: selfTest as SelfTestBehaviour,
    project: values.project as string | undefined,
    secureVersion: integer(values["secure-version"], "secure-version"),
    seed: integer(values.seed, "seed"),
    chip,
    idfVersion: values.idf as string | undefined,
  });
  console.log(
    `${out}: ${image.length} bytes, version ${values.version}, self-test ${selfTest}, chip ${chip ?? "esp32"}, ESP-IDF ${(values.idf as string | undefined) ?? MODELLED_IDF_VERSION}`,
  );
}
