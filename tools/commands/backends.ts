// From command-line flags to a cloud the simulated device talks to: one entry per backend.
import { createAwsBackend, mqttIdentity as awsIdentity } from "../../src/backends/aws/index";
import {
  createTencentBackend,
  mqttIdentity as tencentIdentity,
} from "../../src/backends/tencent/index";
import {
  createThingsBoardBackend,
  mqttIdentity as thingsBoardIdentity,
} from "../../src/backends/thingsboard/index";
import type { DeviceCloud, TlsMaterial } from "../../hosts/node/device";
import { required, UsageError, type Options, type Values } from "./args";

export const BACKENDS = ["aws", "thingsboard", "tencent"] as const;
export type BackendName = (typeof BACKENDS)[number];

export const BACKEND_OPTIONS = {
  thing: { type: "string" },
  token: { type: "string" },
  title: { type: "string" },
  product: { type: "string" },
  device: { type: "string" },
  secret: { type: "string" },
} satisfies Options;

export const BACKEND_USAGE = `Backend options:
  aws          --thing NAME                   the thing name (MQTT client id)
  thingsboard  --token TOKEN [--title TITLE]  access token; firmware title (default: the image's project)
  tencent      --product ID --device NAME [--secret BASE64]  key authentication with the device secret,
                                              or certificate authentication with --cert/--key`;

export function backendName(value: unknown, usage: string): BackendName {
  if (!BACKENDS.includes(value as BackendName)) {
    throw new UsageError(
      `--backend must be one of ${BACKENDS.join(", ")}, not "${String(value)}"\n\n${usage}`,
    );
  }
  return value as BackendName;
}

/** Plain MQTT only when the user says so: loopback is no exception, as a real board has none. */
function checkTransport(url: string, insecure: boolean): void {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1].toLowerCase();
  if (scheme !== "mqtt" && scheme !== "mqtts") {
    throw new UsageError(`--broker must be an mqtt:// or mqtts:// URL, not ${url}`);
  }
  if (scheme === "mqtt" && !insecure) {
    throw new UsageError(
      `--broker ${url} is plain MQTT, which anyone on the way can read and change.\n` +
        "Use mqtts:// with --ca (and --cert/--key where the cloud asks for a client certificate, as " +
        "AWS does), or pass --insecure-plaintext to allow mqtt:// and http:// (development only).",
    );
  }
}

export function deviceCloud(values: Values, tls: TlsMaterial, usage: string): DeviceCloud {
  const backend = backendName(values.backend, usage);
  const brokerUrl = required(values, "broker", usage);
  checkTransport(brokerUrl, Boolean(values["insecure-plaintext"]));
  switch (backend) {
    case "aws": {
      // Progress every second, as the agent reports it: the backend's default of 10 s (fewer
      // billed messages on a real fleet) would show 0% through a short simulated download.
      const config = { thingName: required(values, "thing", usage), progressIntervalMs: 1000 };
      return {
        brokerUrl,
        tls,
        identity: awsIdentity(config),
        createBackend: (deps) => createAwsBackend(config, deps),
      };
    }
    case "thingsboard": {
      const accessToken = required(values, "token", usage);
      const identity = thingsBoardIdentity({ accessToken, title: "" });
      return {
        brokerUrl,
        tls,
        identity,
        createBackend: (deps) =>
          createThingsBoardBackend(
            {
              accessToken,
              title: (values.title as string | undefined) ?? deps.running.project,
              currentVersion: deps.running.version,
            },
            deps,
          ),
      };
    }
    case "tencent": {
      const identityConfig = {
        productId: required(values, "product", usage),
        deviceName: required(values, "device", usage),
        deviceSecret: values.secret as string | undefined,
      };
      return {
        brokerUrl,
        tls,
        identity: tencentIdentity(identityConfig),
        createBackend: (deps) =>
          createTencentBackend({ ...identityConfig, currentVersion: deps.running.version }, deps),
      };
    }
  }
}
