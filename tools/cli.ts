// otaflow: the simulator's command line (a public contract, documented in the README).
import { UsageError } from "./commands/args";
import { deviceCommand, DEVICE_USAGE } from "./commands/device";
import { imageCommand, IMAGE_USAGE } from "./commands/image";
import { cloudCommand, CLOUD_USAGE, deployCommand, DEPLOY_USAGE } from "./commands/cloud";
import {
  keygenCommand,
  KEYGEN_USAGE,
  signCommand,
  SIGN_USAGE,
  verifyCommand,
  VERIFY_USAGE,
} from "./commands/sign";

const COMMANDS: Record<string, { run: (argv: string[]) => unknown; usage: string }> = {
  device: { run: deviceCommand, usage: DEVICE_USAGE },
  image: { run: imageCommand, usage: IMAGE_USAGE },
  cloud: { run: cloudCommand, usage: CLOUD_USAGE },
  deploy: { run: deployCommand, usage: DEPLOY_USAGE },
  keygen: { run: keygenCommand, usage: KEYGEN_USAGE },
  sign: { run: signCommand, usage: SIGN_USAGE },
  verify: { run: verifyCommand, usage: VERIFY_USAGE },
};

const USAGE = `Usage: otaflow <command> [options]   (otaflow <command> --help for each)

  device   run a simulated ESP32 with the agent against a cloud
  image    write an ESP-IDF app image for the simulator
  cloud    run a local cloud (AWS IoT Jobs, ThingsBoard or Tencent IoT Hub) with a broker and firmware server
  deploy   create a job / assign firmware on a running local cloud
  keygen   make an ECDSA P-256 or RSA-3072 signing key, as espsecure does
  sign     sign an image (Secure Boot V2 sector or V1 trailer, or detached for AWS afr_ota)
  verify   check an image's signature with a public key, as the agent does`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`otaflow: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  try {
    await command.run(rest);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`otaflow ${name}: ${error.message}`);
      return 2;
    }
    console.error(`otaflow ${name}: ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
