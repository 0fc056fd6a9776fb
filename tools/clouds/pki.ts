// A small PKI made with openssl for the local clouds and the tests: a CA, a server certificate for
// 127.0.0.1 and localhost, and client certificates (AWS IoT requires one of every MQTT client; the
// local AWS cloud's own service connects with one too). EC P-256 keys, as AWS IoT and Moddable's TLS
// both take them.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** PEM texts a local cloud serves TLS with. */
export interface LocalTls {
  /** The CA that signed the server's certificate and every client certificate. */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** The client certificate of the cloud's own service, for a broker that requires one (AWS). */
  service: { cert: string; key: string };
}

/** File names in a PKI directory; the device is given ca.pem, and device.pem with device.key. */
export const PKI_FILES = {
  ca: "ca.pem",
  caKey: "ca.key",
  serverCert: "server.pem",
  serverKey: "server.key",
  deviceCert: "device.pem",
  deviceKey: "device.key",
  serviceCert: "service.pem",
  serviceKey: "service.key",
};

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`openssl ${args[0]} failed in ${dir}: ${stderr || (error as Error).message}`, {
      cause: error,
    });
  }
}

/** Makes ca.pem and ca.key in `dir`: a CA valid for `days`. */
export function makeCa(dir: string, commonName: string, days = 30): void {
  openssl(dir, [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    PKI_FILES.caKey,
    "-out",
    PKI_FILES.ca,
    "-days",
    String(days),
    "-subj",
    `/CN=${commonName}`,
  ]);
}

/**
 * Makes `<name>.pem` and `<name>.key` in `dir`, signed by the CA there. `server`: valid for
 * 127.0.0.1 and localhost. Returns the PEM texts.
 */
export function issue(
  dir: string,
  name: string,
  commonName: string,
  options: { server?: boolean; days?: number } = {},
): { cert: string; key: string } {
  const ext = `${name}.ext`;
  fs.writeFileSync(
    path.join(dir, ext),
    options.server
      ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
      : "extendedKeyUsage=clientAuth\n",
  );
  openssl(dir, [
    "req",
    ...EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${commonName}`,
  ]);
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    PKI_FILES.ca,
    "-CAkey",
    PKI_FILES.caKey,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    String(options.days ?? 30),
    "-extfile",
    ext,
  ]);
  fs.rmSync(path.join(dir, `${name}.csr`));
  fs.rmSync(path.join(dir, ext));
  return {
    cert: fs.readFileSync(path.join(dir, `${name}.pem`), "utf8"),
    key: fs.readFileSync(path.join(dir, `${name}.key`), "utf8"),
  };
}

/**
 * The PKI in `dir` for a local cloud: the files already there are used as given, the missing ones
 * are made (which needs ca.key when ca.pem is given). Returns what the cloud serves TLS with.
 */
export function ensurePki(dir: string): LocalTls {
  fs.mkdirSync(dir, { recursive: true });
  const has = (file: string) => fs.existsSync(path.join(dir, file));
  if (!has(PKI_FILES.ca)) makeCa(dir, "otaflow local CA");
  const wanted: [string, string, boolean][] = [
    ["server", "localhost", true],
    ["device", "otaflow-device", false],
    ["service", "otaflow-cloud-service", false],
  ];
  for (const [name, commonName, server] of wanted) {
    if (has(`${name}.pem`) && has(`${name}.key`)) continue;
    if (!has(PKI_FILES.caKey))
      throw new Error(
        `${path.join(dir, name)}.pem/.key are missing, and ${PKI_FILES.caKey} is not there to make them with`,
      );
    issue(dir, name, commonName, { server });
  }
  const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");
  return {
    ca: read(PKI_FILES.ca),
    serverCert: read(PKI_FILES.serverCert),
    serverKey: read(PKI_FILES.serverKey),
    service: { cert: read(PKI_FILES.serviceCert), key: read(PKI_FILES.serviceKey) },
  };
}
