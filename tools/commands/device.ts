import * as fs from "node:fs";
import { runDevice } from "../../hosts/node/device";
import { deviceCloud, BACKEND_OPTIONS, BACKEND_USAGE } from "./backends";
import { integer, parse, required } from "./args";
import { humanRenderer, jsonRenderer } from "./render";

export const DEVICE_USAGE = `Usage:
  otaflow device --backend aws --broker URL --thing NAME --flash FILE [--factory IMAGE] [--json]
  otaflow device --backend thingsboard --broker URL --token TOKEN --flash FILE [--factory IMAGE] [--json]
  otaflow device --backend tencent --broker URL --product ID --device NAME --flash FILE [--factory IMAGE] [--json]

Runs a simulated ESP32 until SIGINT/SIGTERM, rebooting in-process when its firmware asks to.
--factory provisions the flash file only when it does not exist yet: an existing flash file is never
overwritten, so the same command line restarts the device after a power cut (a killed process).
  --flash-size BYTES   size of a new flash file (default 4MiB; 16MiB or more for large images)
  --json               one JSON object per line, each with an "event" field
  --verbose            the bootloader's lines and the agent's debug log
  --ca/--cert/--key    PEM files for mqtts:// and https:// (client certificate where the cloud uses one)
  --insecure-plaintext allow mqtt:// and http:// to a host other than loopback
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
      json: { type: "boolean" },
      verbose: { type: "boolean" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "insecure-plaintext": { type: "boolean" },
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
    cloud,
    powerOff: off,
    onEvent: values.json
      ? jsonRenderer()
      : humanRenderer({ tty: Boolean(process.stdout.isTTY), verbose: Boolean(values.verbose) }),
  });
}
