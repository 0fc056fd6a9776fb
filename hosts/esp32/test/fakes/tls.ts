// SecureSocket's `secure` dictionary in a form the Node side can use (DER buffers as hex).
import { hexOf } from "./hex";

export interface TlsRequest {
  ca?: string;
  cert?: string;
  key?: string;
  verify: boolean;
}

function derHex(buffer: unknown): string | undefined {
  if (buffer === undefined) return undefined;
  if (buffer instanceof ArrayBuffer) return hexOf(new Uint8Array(buffer));
  if (ArrayBuffer.isView(buffer))
    return hexOf(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
  throw new TypeError("certificates are DER buffers");
}

export function tlsRequest(secure: Record<string, unknown> | undefined): TlsRequest {
  const options = secure || {};
  const clients = options.clientCertificates as unknown[] | undefined;
  return {
    ca: derHex(options.certificate),
    cert: clients ? derHex(clients[0]) : undefined,
    key: derHex(options.clientKey),
    verify: options.verify !== false,
  };
}
