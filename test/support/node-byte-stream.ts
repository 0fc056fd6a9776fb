// The byte-stream transport port of src/mqtt/stream-link.ts over a Node socket (TCP, or TLS when
// options are given), as a board's host gives it over its own sockets.
import * as net from "node:net";
import * as tls from "node:tls";
import type { ByteStreamOpener } from "../../src/mqtt/stream-link";

export function nodeByteStream(
  port: number,
  host = "127.0.0.1",
  secure?: tls.ConnectionOptions,
): ByteStreamOpener {
  return (events) => {
    let live = true;
    const finish = (reason: string) => {
      if (!live) return;
      live = false;
      events.closed(reason);
    };
    const socket = secure
      ? tls.connect({ ...secure, host, port }, () => live && events.opened())
      : net.connect({ host, port }, () => live && events.opened());
    socket.on("data", (data: Buffer) => {
      if (live) events.data(new Uint8Array(data));
    });
    socket.on("error", (error) => finish(`socket error: ${error.message}`));
    socket.on("close", () => finish("connection closed"));
    return {
      write: (bytes) => {
        if (live) socket.write(bytes);
      },
      close: () => {
        live = false;
        socket.destroy();
      },
    };
  };
}
