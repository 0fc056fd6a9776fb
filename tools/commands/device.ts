import * as fs from "node:fs";
import { CHIPS, chipNamed as knownChip, type Chip } from "../../hosts/node/chips";
import { runDevice } from "../../hosts/node/device";
import { isHostPattern } from "../../src/core/policy";
import { trustedKey } from "../../src/core/signature/keys";
import { deviceCloud, BACKEND_OPTIONS, BACKEND_USAGE } from "./backends";
import { integer, parse, required, UsageError } from "./args";
import { trustedKeyText } from "./sign";
import { humanRenderer, jsonRenderer } from "./render";

export const DEVICE_USAGE = `Usage:
  otaflow device --backend aws --broker URL --thing NAME --flash FILE [--factory IMAGE] [--json]
  otaflow device --backend thingsboard --broker URL --token TOKEN --flash FILE [--factory IMAGE] [--json]
  otaflow device --backend tencent --broker URL --product ID --device NAME --flash FILE [--factory IMAGE] [--json]

Runs a simulated ESP32 until SIGINT/SIGTERM, rebooting in-process when its firmware asks to.
--factory provisions the flash file only when it does not exist yet: an existing flash file is never
overwritten, so the same command line restarts the device after a power cut (a killed process).
  --flash-size BYTES   size of a new flash file (default 4MiB; 16MiB or more for large images)
  --chip NAME          the board's chip: esp32 (default), esp32s3, esp32c3 or esp32c6; it boots only
                       images made for it (otaflow image --chip) and a flash file made for it. An
                       esp32's slots stop at 16 MiB (a flash of up to 32MiB); esp32s3 maps larger ones
  --no-anti-rollback   a bootloader without CONFIG_BOOTLOADER_APP_ANTI_ROLLBACK: the simulated eFuse
                       secure_version (FLASH.efuse) is neither raised nor checked
  --json               one JSON object per line, each with an "event" field
  --verbose            the bootloader's lines and the agent's debug log
  --ca/--cert/--key    PEM files for mqtts:// and https://: the CA of the servers' certificates, and the
                       device's certificate and key where the cloud asks for one (AWS)
  --insecure-plaintext allow plain mqtt:// to the broker and http:// image URLs (development only;
                       loopback is no exception)
  --public-key FILE    a public key (ECDSA P-256 or RSA-3072 PEM, as otaflow keygen and espsecure
                       write it) or a Secure Boot V2 key digest (espsecure's .bin, or hex) built
                       into the firmware: only images it signed are installed; repeatable (key
                       rotation). Without it images are not signature-checked (docs/SECURITY.md)
  --secure-boot-key FILE
                       a chip with signed-app checks at boot: the key's Secure Boot V2 digest (same
                       forms as --public-key) is burnt into the eFuses of a new board, and no app
                       without a valid signature sector by such a key boots; repeatable (3 at most)
  --allow-host PATTERN download images only from this host: fw.example.com, *.example.com (its
                       subdomains) or an IP address; repeatable (default: any host)
${BACKEND_USAGE}`;

export async function deviceCommand(argv: string[]): Promise<void> {
  const values = parse(
    argv,
    {
      backend: { type: "string" },
      broker: { type: "string" },
      flash: { type: "string" },
      factory: { type: "string" },
      "flash-size": { type: "string" },
      chip: { type: "string" },
      "no-anti-rollback": { type: "boolean" },
      json: { type: "boolean" },
      verbose: { type: "boolean" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "insecure-plaintext": { type: "boolean" },
      "allow-host": { type: "string", multiple: true },
      "public-key": { type: "string", multiple: true },
      "secure-boot-key": { type: "string", multiple: true },
      ...BACKEND_OPTIONS,
    },
    DEVICE_USAGE,
  );
  if (values.help) return console.log(DEVICE_USAGE);
  const read = (name: string) =>
    typeof values[name] === "string" ? fs.readFileSync(values[name] as string, "utf8") : undefined;
  const cloud = deviceCloud(
    values,
    { ca: read("ca"), cert: read("cert"), key: read("key") },
    DEVICE_USAGE,
  );
  let powerOff!: () => void;
  const off = new Promise<void>((resolve) => (powerOff = resolve));
  process.once("SIGINT", () => powerOff());
  process.once("SIGTERM", () => powerOff());
  await runDevice({
    flashPath: required(values, "flash", DEVICE_USAGE),
    factoryImagePath: values.factory as string | undefined,
    flashSize: integer(values["flash-size"], "flash-size"),
    chip: chipNamed(values.chip),
    antiRollback: !values["no-anti-rollback"],
    secureBootKeyDigests: secureBootDigests(values["secure-boot-key"]),
    cloud,
    agent: {
      allowPlaintext: Boolean(values["insecure-plaintext"]),
      allowedHosts: allowedHosts(values["allow-host"]),
      trustedKeys: trustedKeys(values["public-key"]),
    },
    powerOff: off,
    onEvent: values.json
      ? jsonRenderer()
      : humanRenderer({ tty: Boolean(process.stdout.isTTY), verbose: Boolean(values.verbose) }),
  });
}

function trustedKeys(files: unknown): string[] {
  const keys = ((files as string[] | undefined) ?? []).map((file) => {
    try {
      return trustedKeyText(file);
    } catch (error) {
      throw new UsageError(`--public-key ${file}: ${(error as Error).message}`);
    }
  });
  if (keys.length === 0)
    console.error(
      "warning: no --public-key: images are installed without a signature check (docs/SECURITY.md)",
    );
  return keys;
}

/** The SBv2 digests of the --secure-boot-key files; undefined when none is given. */
function secureBootDigests(files: unknown): string[] | undefined {
  const list = (files as string[] | undefined) ?? [];
  if (list.length === 0) return undefined;
  return list.map((file) => {
    try {
      return trustedKey(trustedKeyText(file)).digest;
    } catch (error) {
      throw new UsageError(`--secure-boot-key ${file}: ${(error as Error).message}`);
    }
  });
}

function chipNamed(name: unknown): Chip | undefined {
  if (name === undefined) return undefined;
  try {
    return knownChip(String(name));
  } catch {
    throw new UsageError(
      `--chip must be one of ${CHIPS.map((chip) => chip.name).join(", ")}, not "${String(name)}"`,
    );
  }
}

function allowedHosts(patterns: unknown): string[] {
  const hosts = (patterns as string[] | undefined) ?? [];
  for (const host of hosts) {
    if (!isHostPattern(host))
      throw new UsageError(
        `--allow-host ${host}: give a host name (fw.example.com), *.example.com or an IP address, without scheme or port`,
      );
  }
  return hosts;
}
