// Test PKI made with openssl (tools/clouds/pki.ts, as `otaflow cloud --tls` makes it): a CA, a
// server certificate for 127.0.0.1/localhost, and client certificates, as AWS IoT and Tencent's
// certificate authentication use them.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { issue, makeCa, PKI_FILES, type LocalTls } from "../../tools/clouds/pki";

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  /** Makes a client certificate with this common name. */
  client(commonName: string): { cert: string; key: string };
  files: { ca: string; serverCert: string; serverKey: string };
  /** What a local cloud serves TLS with (its service's client certificate made on first use). */
  localTls(): LocalTls;
}

export function makePki(caName = "otaflow test CA"): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "otaflow-pki-"));
  makeCa(dir, caName, 2);
  const server = issue(dir, "server", "localhost", { server: true, days: 2 });
  const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");
  let clients = 0;
  const client = (commonName: string) => issue(dir, `client${clients++}`, commonName, { days: 2 });
  const pki: Pki = {
    dir,
    ca: read(PKI_FILES.ca),
    caKey: read(PKI_FILES.caKey),
    serverCert: server.cert,
    serverKey: server.key,
    client,
    files: {
      ca: path.join(dir, PKI_FILES.ca),
      serverCert: path.join(dir, PKI_FILES.serverCert),
      serverKey: path.join(dir, PKI_FILES.serverKey),
    },
    localTls: () => ({
      ca: pki.ca,
      serverCert: pki.serverCert,
      serverKey: pki.serverKey,
      service: client("otaflow-cloud-service"),
    }),
  };
  return pki;
}
