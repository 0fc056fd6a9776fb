// SecureSocket: the legacy Socket over TLS, configured by its `secure` dictionary.
import { Socket } from "./socket";

export default class SecureSocket extends Socket {
  constructor(options: { host: string; port: number; secure?: Record<string, unknown> }) {
    super(options, true);
  }
}
