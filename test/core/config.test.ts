// The one configuration: defaults, normalisation, the error that names the bad field, and the
// mapping onto the agent's and each backend's own configuration.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_CONFIG,
  DEFAULT_POLICY,
  agentConfigOf,
  backendConfigOf,
  backendNameOf,
  checkConfig,
  isConfigError,
  mqttIdentityOf,
} from "../../src/index";

const RUNNING = { version: "1.0.0", project: "sensor" };
// The public point of a P-256 key, as `otaflow keygen` prints it.
const KEY =
  "0463456dbb8607ffb964bcd8b55384a14301bdef1bb3791af5a5d2b480ec2010afea1561c08ebbc644faa95a0073971839245d7d948b7f5b3d50605dee087bfbca";
const AWS = {
  backend: { aws: { thingName: "dev-1" } },
  connection: { broker: "mqtts://iot.example.com" },
  security: { trustedKeys: [KEY] },
};

function rejects(input: unknown, field: string, message: string): void {
  assert.throws(
    () => checkConfig(input),
    (error: unknown) => {
      assert.ok(isConfigError(error), "a ConfigError");
      assert.equal(error.field, field);
      assert.equal(error.message, message);
      return true;
    },
  );
}

test("a minimal configuration gets every documented default", () => {
  const config = checkConfig(AWS);
  assert.deepEqual(config, {
    device: {},
    backend: { aws: { thingName: "dev-1", clientIdPrefix: "" } },
    connection: { broker: "mqtts://iot.example.com" },
    policy: DEFAULT_POLICY,
    security: { trustedKeys: [KEY] },
    insecure: { allowUnsigned: false, allowPlaintext: false, skipServerVerification: false },
  });
  assert.deepEqual(agentConfigOf(config), { ...DEFAULT_CONFIG, trustedKeys: [KEY] });
  assert.equal(backendNameOf(config), "aws");
});

test("the input is not kept: the result is a fresh object", () => {
  const input = JSON.parse(JSON.stringify(AWS));
  const config = checkConfig(input);
  input.backend.aws.thingName = "changed";
  assert.equal("aws" in config.backend && config.backend.aws.thingName, "dev-1");
});

test("the policy maps onto the agent's configuration", () => {
  const config = checkConfig({
    ...AWS,
    device: { chipId: 9 },
    policy: {
      maxAttempts: 3,
      backoff: { baseMs: 500, maxMs: 4000 },
      journalIntervalBytes: 32768,
      selfTestTimeoutMs: 5000,
      allowDowngrade: true,
      autoReboot: false,
      allowedHosts: ["fw.example.com", "*.cdn.example.com", "[::1]"],
    },
    insecure: { allowPlaintext: true },
  });
  assert.deepEqual(agentConfigOf(config), {
    ...DEFAULT_CONFIG,
    maxAttempts: 3,
    backoff: { baseMs: 500, maxMs: 4000 },
    journalIntervalBytes: 32768,
    selfTestTimeoutMs: 5000,
    allowDowngrade: true,
    autoReboot: false,
    chipId: 9,
    allowPlaintext: true,
    allowedHosts: ["fw.example.com", "*.cdn.example.com", "[::1]"],
    trustedKeys: [KEY],
  });
});

test("a backoff base above the default maximum raises the maximum with it", () => {
  const config = checkConfig({ ...AWS, policy: { backoff: { baseMs: 120_000 } } });
  assert.deepEqual(config.policy.backoff, { baseMs: 120_000, maxMs: 120_000 });
});

test("each backend gets its own configuration", () => {
  const aws = checkConfig({
    ...AWS,
    backend: { aws: { thingName: "dev-1", clientIdPrefix: "fleet:", stepTimeoutMinutes: 30 } },
  });
  assert.deepEqual(backendConfigOf(aws, RUNNING), {
    name: "aws",
    config: { thingName: "dev-1", clientIdPrefix: "fleet:", stepTimeoutMinutes: 30 },
  });
  assert.deepEqual(mqttIdentityOf(aws, Math.random), { clientId: "fleet:dev-1" });

  const tb = checkConfig({
    backend: { thingsboard: { accessToken: "A1_token" } },
    connection: { broker: "mqtt://127.0.0.1:1883" },
    policy: { chunkSize: 16384, chunkWindow: 2, chunkBytesInFlight: 262144 },
    security: AWS.security,
    insecure: { allowPlaintext: true },
  });
  assert.deepEqual(backendConfigOf(tb, RUNNING), {
    name: "thingsboard",
    config: {
      accessToken: "A1_token",
      title: "sensor",
      kind: "firmware",
      chunkSize: 16384,
      window: 2,
      maxBytesInFlight: 262144,
      currentVersion: "1.0.0",
    },
  });
  assert.equal(mqttIdentityOf(tb, Math.random).username, "A1_token");

  const tencent = checkConfig({
    backend: {
      tencent: { productId: "S3EUVBRJLB", deviceName: "test_device", deviceSecret: "c2VjcmV0" },
    },
    connection: { broker: "mqtts://S3EUVBRJLB.iotcloud.tencentdevices.com" },
    security: AWS.security,
  });
  assert.deepEqual(backendConfigOf(tencent, RUNNING), {
    name: "tencent",
    config: {
      productId: "S3EUVBRJLB",
      deviceName: "test_device",
      deviceSecret: "c2VjcmV0",
      signMethod: "hmacsha256",
      currentVersion: "1.0.0",
    },
  });
  const identity = mqttIdentityOf(tencent, () => 0);
  assert.equal(identity.clientId, "S3EUVBRJLBtest_device");
  assert.match(identity.username!, /^S3EUVBRJLBtest_device;12010126;aaaaa;2147483647$/);
  assert.match(identity.password!, /^[0-9a-f]{64};hmacsha256$/);
});

test("plain MQTT, to loopback too, needs insecure.allowPlaintext, which allows http:// images", () => {
  for (const broker of ["mqtt://iot.example.com", "mqtt://127.0.0.1:1883", "mqtt://localhost"]) {
    rejects(
      { ...AWS, connection: { broker } },
      "connection.broker",
      `connection.broker: must be mqtts:// (plain mqtt://, even to loopback, needs insecure.allowPlaintext), got "${broker}"`,
    );
  }
  const config = checkConfig({
    ...AWS,
    connection: { broker: "mqtt://127.0.0.1:1883" },
    insecure: { allowPlaintext: true },
  });
  assert.equal(config.insecure.allowPlaintext, true);
  assert.equal(agentConfigOf(config).allowPlaintext, true);
  assert.equal(agentConfigOf(checkConfig(AWS)).allowPlaintext, false);
});

const BAD: [string, unknown, string, string][] = [
  [
    "not an object",
    "aws",
    "config",
    'config: must be an object with device, backend, connection, policy, security, insecure, got "aws"',
  ],
  [
    "empty thing name",
    { ...AWS, backend: { aws: { thingName: "" } } },
    "backend.aws.thingName",
    'backend.aws.thingName: must be 1-128 of [a-zA-Z0-9:_-], got ""',
  ],
  [
    "thing name with a space",
    { ...AWS, backend: { aws: { thingName: "dev 1" } } },
    "backend.aws.thingName",
    'backend.aws.thingName: must be 1-128 of [a-zA-Z0-9:_-], got "dev 1"',
  ],
  [
    "client id too long",
    { ...AWS, backend: { aws: { thingName: "x".repeat(120), clientIdPrefix: "123456789" } } },
    "backend.aws.clientIdPrefix",
    'backend.aws.clientIdPrefix: must be 0-8 of [a-zA-Z0-9:_-] (with the thing name, a client id of at most 128), got "123456789"',
  ],
  [
    "two backends",
    { ...AWS, backend: { aws: { thingName: "a" }, tencent: {} } },
    "backend",
    "backend: must be exactly one of aws, thingsboard, tencent, got an object",
  ],
  [
    "unknown backend",
    { ...AWS, backend: { azure: {} } },
    "backend.azure",
    "backend.azure: must be absent (the known fields are aws, thingsboard, tencent), got an object",
  ],
  [
    "misspelt policy field",
    { ...AWS, policy: { chunkSzie: 1024 } },
    "policy.chunkSzie",
    "policy.chunkSzie: must be absent (the known fields are chunkSize, chunkWindow, chunkBytesInFlight, maxAttempts, backoff, journalIntervalBytes, selfTestTimeoutMs, allowDowngrade, autoReboot, allowedHosts), got 1024",
  ],
  [
    "chunk larger than the server takes",
    { ...AWS, policy: { chunkSize: 65537 } },
    "policy.chunkSize",
    "policy.chunkSize: must be an integer from 1 to 65536, got 65537",
  ],
  [
    "fractional window",
    { ...AWS, policy: { chunkWindow: 1.5 } },
    "policy.chunkWindow",
    "policy.chunkWindow: must be an integer from 1 to 64, got 1.5",
  ],
  [
    "a chunk budget smaller than a chunk",
    { ...AWS, policy: { chunkBytesInFlight: 1024 } },
    "policy.chunkBytesInFlight",
    "policy.chunkBytesInFlight: must be 0 (off) or an integer from 4096 to 1048576, got 1024",
  ],
  [
    "a chunk budget above 1 MiB",
    { ...AWS, policy: { chunkBytesInFlight: 2097152 } },
    "policy.chunkBytesInFlight",
    "policy.chunkBytesInFlight: must be an integer from 0 to 1048576, got 2097152",
  ],
  [
    "retries as a string",
    { ...AWS, policy: { maxAttempts: "8" } },
    "policy.maxAttempts",
    'policy.maxAttempts: must be an integer from 1 to 1000, got "8"',
  ],
  [
    "backoff maximum below its base",
    { ...AWS, policy: { backoff: { baseMs: 5000, maxMs: 1000 } } },
    "policy.backoff.maxMs",
    "policy.backoff.maxMs: must be an integer from 5000 to 86400000, got 1000",
  ],
  [
    "journal interval below a sector",
    { ...AWS, policy: { journalIntervalBytes: 512 } },
    "policy.journalIntervalBytes",
    "policy.journalIntervalBytes: must be an integer from 4096 to 16777216, got 512",
  ],
  [
    "self-test timeout of zero",
    { ...AWS, policy: { selfTestTimeoutMs: 0 } },
    "policy.selfTestTimeoutMs",
    "policy.selfTestTimeoutMs: must be an integer from 1000 to 3600000, got 0",
  ],
  [
    "downgrade as a string",
    { ...AWS, policy: { allowDowngrade: "yes" } },
    "policy.allowDowngrade",
    'policy.allowDowngrade: must be true or false, got "yes"',
  ],
  [
    "allowed hosts as one string",
    { ...AWS, policy: { allowedHosts: "fw.example.com" } },
    "policy.allowedHosts",
    'policy.allowedHosts: must be an array of host names ("fw.example.com", "*.example.com" or an IP address), got "fw.example.com"',
  ],
  [
    "allowed host given as a URL",
    { ...AWS, policy: { allowedHosts: ["fw.example.com", "https://cdn.example.com/"] } },
    "policy.allowedHosts[1]",
    'policy.allowedHosts[1]: must be a host name ("fw.example.com"), "*.example.com" or an IP address, got "https://cdn.example.com/"',
  ],
  [
    "allowed host with a port",
    { ...AWS, policy: { allowedHosts: ["fw.example.com:443"] } },
    "policy.allowedHosts[0]",
    'policy.allowedHosts[0]: must be a host name ("fw.example.com"), "*.example.com" or an IP address, got "fw.example.com:443"',
  ],
  [
    "a wildcard that is not a subdomain pattern",
    { ...AWS, policy: { allowedHosts: ["fw*.example.com"] } },
    "policy.allowedHosts[0]",
    'policy.allowedHosts[0]: must be a host name ("fw.example.com"), "*.example.com" or an IP address, got "fw*.example.com"',
  ],
  [
    "insecure flag as a number",
    { ...AWS, insecure: { skipServerVerification: 1 } },
    "insecure.skipServerVerification",
    "insecure.skipServerVerification: must be true or false, got 1",
  ],
  [
    "missing connection",
    { backend: AWS.backend },
    "connection",
    "connection: must be an object with broker, ca, cert, key, got nothing",
  ],
  [
    "broker of another scheme",
    { ...AWS, connection: { broker: "https://iot.example.com" } },
    "connection.broker",
    'connection.broker: must be mqtt://host[:port] or mqtts://host[:port], got "https://iot.example.com"',
  ],
  [
    "port out of range",
    { ...AWS, connection: { broker: "mqtts://iot.example.com:70000" } },
    "connection.broker",
    'connection.broker: must be a port from 1 to 65535, got "mqtts://iot.example.com:70000"',
  ],
  [
    "certificate without its key",
    { ...AWS, connection: { broker: "mqtts://iot.example.com", cert: "device.der" } },
    "connection.key",
    "connection.key: must be set with its partner (cert and key go together), got nothing",
  ],
  [
    "ThingsBoard token with a space",
    { ...AWS, backend: { thingsboard: { accessToken: "a b" } } },
    "backend.thingsboard.accessToken",
    'backend.thingsboard.accessToken: must be 1-256 printable ASCII characters without spaces, got "a b"',
  ],
  [
    "ThingsBoard title longer than the app descriptor's",
    { ...AWS, backend: { thingsboard: { accessToken: "t", title: "p".repeat(32) } } },
    "backend.thingsboard.title",
    `backend.thingsboard.title: must be 1-31 characters, got "${"p".repeat(32)}"`,
  ],
  [
    "ThingsBoard package kind",
    { ...AWS, backend: { thingsboard: { accessToken: "t", kind: "bootloader" } } },
    "backend.thingsboard.kind",
    'backend.thingsboard.kind: must be one of "firmware", "software", got "bootloader"',
  ],
  [
    "Tencent without a device name",
    { ...AWS, backend: { tencent: { productId: "S3EUVBRJLB" } } },
    "backend.tencent.deviceName",
    "backend.tencent.deviceName: must be 1-48 of [a-zA-Z0-9:_@.-], got nothing",
  ],
  [
    "Tencent secret that is not base64",
    {
      ...AWS,
      backend: { tencent: { productId: "P1", deviceName: "d1", deviceSecret: "not base64!" } },
    },
    "backend.tencent.deviceSecret",
    'backend.tencent.deviceSecret: must be base64 (as the console shows it), got "not base64!"',
  ],
  [
    "chip id out of range",
    { ...AWS, device: { chipId: -1 } },
    "device.chipId",
    "device.chipId: must be an integer from 0 to 65535, got -1",
  ],
];

for (const [what, input, field, message] of BAD) {
  test(`refused, naming the field: ${what}`, () => rejects(input, field, message));
}

test("a configuration without a trusted key is refused, unless unsigned images are meant", () => {
  const unsigned = { backend: AWS.backend, connection: AWS.connection };
  rejects(
    unsigned,
    "security.trustedKeys",
    "security.trustedKeys: must be at least one public key, so that only signed images are installed (or set insecure.allowUnsigned), got an array",
  );
  const config = checkConfig({ ...unsigned, insecure: { allowUnsigned: true } });
  assert.deepEqual(agentConfigOf(config).trustedKeys, []);
});

test("a trusted key that is not a public key or key digest is refused with the reason", () => {
  assert.throws(
    () => checkConfig({ ...AWS, security: { trustedKeys: [KEY, KEY.slice(0, 66)] } }),
    (error: unknown) => {
      assert.ok(isConfigError(error));
      assert.equal(error.field, "security.trustedKeys[1]");
      assert.match(
        error.message,
        /^security\.trustedKeys\[1\]: must be a public key or key digest \(key: /,
      );
      return true;
    },
  );
});
