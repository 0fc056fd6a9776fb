// The embedded MQTT broker (aedes) the demo, the local clouds and the tests use when no external
// broker is given. TLS with client certificates is supported so that mqtts:// paths run for real.
import { Aedes, type AedesOptions } from "aedes";
import * as net from "node:net";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { acceptAnyVersion } from "./mqtt5";

export interface BrokerOptions {
  host?: string;
  port?: number;
  /** PEM texts. With `ca`, clients must present a certificate signed by it. */
  tls?: { cert: string; key: string; ca?: string };
  authenticate?: AedesOptions["authenticate"];
  authorizeSubscribe?: AedesOptions["authorizeSubscribe"];
  authorizePublish?: AedesOptions["authorizePublish"];
  /** Accept MQTT 5 clients too (tools/broker/mqtt5.ts), as servers like ThingsBoard do. */
  mqtt5?: boolean;
}

export interface RunningBroker {
  url: string;
  port: number;
  aedes: Aedes;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  // Only the handlers given: an explicit undefined would replace aedes' defaults.
  const hooks: AedesOptions = {};
  if (options.authenticate) hooks.authenticate = options.authenticate;
  if (options.authorizeSubscribe) hooks.authorizeSubscribe = options.authorizeSubscribe;
  if (options.authorizePublish) hooks.authorizePublish = options.authorizePublish;
  const aedes = await Aedes.createBroker(hooks);
  const handle = aedes.handle.bind(aedes) as (socket: net.Socket | Duplex) => void;
  const handler = options.mqtt5
    ? (socket: net.Socket) => acceptAnyVersion(socket, handle)
    : (socket: net.Socket) => handle(socket);
  const server = options.tls
    ? tls.createServer(
        {
          cert: options.tls.cert,
          key: options.tls.key,
          ca: options.tls.ca,
          requestCert: Boolean(options.tls.ca),
          rejectUnauthorized: Boolean(options.tls.ca),
        },
        handler,
      )
    : net.createServer(handler);
  const host = options.host ?? "127.0.0.1";
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (error) {
    // A port in use: the broker's own timers must not keep the process alive half-started.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const sockets = new Set<net.Socket>();
  server.on(options.tls ? "secureConnection" : "connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return {
    url: `${options.tls ? "mqtts" : "mqtt"}://${host}:${port}`,
    port,
    aedes,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
