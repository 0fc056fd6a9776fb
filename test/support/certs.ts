// Test PKI made with openssl: a CA, a server certificate for 127.0.0.1/localhost, and client
// certificates, as AWS IoT and Tencent's certificate authentication use them.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** Makes a client certificate with this common name. */
  client(commonName: string): { cert: string; key: string };
  files: { ca: string; serverCert: string; serverKey: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

export function makePki(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-pki-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    dir,
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"].concat([
      "-subj",
      "/CN=otaflow test CA",
    ]),
  );
  fs.writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const sign = (name: string, subject: string, ext?: string) => {
    openssl(dir, ["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      ...(ext ? ["-extfile", ext] : []),
    ]);
    return {
      cert: fs.readFileSync(path.join(dir, `${name}.pem`), "utf8"),
      key: fs.readFileSync(path.join(dir, `${name}.key`), "utf8"),
    };
  };
  const server = sign("server", "/CN=localhost", "server.ext");
  let clients = 0;
  return {
    dir,
    ca: fs.readFileSync(path.join(dir, "ca.pem"), "utf8"),
    caKey: fs.readFileSync(path.join(dir, "ca.key"), "utf8"),
    serverCert: server.cert,
    serverKey: server.key,
    client: (commonName) => sign(`client${clients++}`, `/CN=${commonName}`),
    files: {
      ca: path.join(dir, "ca.pem"),
      serverCert: path.join(dir, "server.pem"),
      serverKey: path.join(dir, "server.key"),
    },
  };
}
