// A TCP proxy on loopback between a client and a server, for tests that break the network under a
// connection: it can stop forwarding (a link gone dead without a FIN, as a lost WiFi does), cut
// every connection, and shows the tests what the client sent.
import * as net from "node:net";

export interface TcpProxy {
  port: number;
  /** Forward bytes (true, the start) or swallow them in both directions (false). */
  forwarding: boolean;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Called with every piece the client sends, before it is forwarded; return false to swallow it. */
  onClientData?: (data: Buffer, connection: number) => boolean;
  /** Destroys every open connection, both sides. */
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(
  targetPort: number,
  targetHost = "127.0.0.1",
): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    const connection = ++accepted;
    const upstream = net.connect(targetPort, targetHost);
    const pair = [client, upstream];
    for (const socket of pair) {
      open.add(socket);
      socket.on("close", () => {
        open.delete(socket);
        // A dead network does not carry the other side's closing either.
        if (proxy.forwarding) for (const other of pair) other.destroy();
      });
      socket.on("error", () => undefined);
    }
    client.on("data", (data: Buffer) => {
      if (proxy.onClientData && !proxy.onClientData(data, connection)) return;
      if (proxy.forwarding) upstream.write(data);
    });
    upstream.on("data", (data: Buffer) => {
      if (proxy.forwarding) client.write(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const proxy: TcpProxy = {
    port: (server.address() as net.AddressInfo).port,
    forwarding: true,
    get accepted() {
      return accepted;
    },
    cut() {
      for (const socket of [...open]) socket.destroy();
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
