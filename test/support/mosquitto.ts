// Runs Debian's mosquitto on loopback with a temporary configuration, for the tiers that test
// against a real broker besides the embedded one.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, waitForPort } from "./ports";
import type { Pki } from "./certs";

export const MOSQUITTO = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find((p) =>
  fs.existsSync(p),
);

/** Why a mosquitto tier cannot run here, or undefined when it can. */
export const mosquittoSkip = MOSQUITTO
  ? undefined
  : "mosquitto is not installed (apt-get install mosquitto)";

export interface RunningMosquitto {
  url: string;
  port: number;
  /** Stops the broker (as a broker crash or restart would) and starts it again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startMosquitto(options: { pki?: Pki } = {}): Promise<RunningMosquitto> {
  if (!MOSQUITTO) throw new Error(mosquittoSkip);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-mosquitto-"));
  const port = await freePort();
  // Run as ourselves: as root, mosquitto would switch to its own user, who cannot read our temp files.
  const lines = [
    `listener ${port} 127.0.0.1`,
    "allow_anonymous true",
    "persistence false",
    `user ${os.userInfo().username}`,
  ];
  if (options.pki) {
    lines.push(
      `cafile ${options.pki.files.ca}`,
      `certfile ${options.pki.files.serverCert}`,
      `keyfile ${options.pki.files.serverKey}`,
      "require_certificate true",
      "use_identity_as_username true",
    );
  }
  const conf = path.join(dir, "mosquitto.conf");
  fs.writeFileSync(conf, lines.join("\n") + "\n");
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(MOSQUITTO!, ["-c", conf], { stdio: "ignore" });
    await waitForPort(port);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  await start();
  return {
    url: `${options.pki ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
    port,
    async restart() {
      await stop();
      await start();
    },
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
