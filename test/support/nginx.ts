// A private nginx (Debian's /usr/sbin/nginx) on loopback serving a directory: a temporary prefix
// and configuration, `daemon off`, an ephemeral port. Tests skip their nginx tier when it is absent.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForPort } from "./ports";

export const NGINX_BINARY = "/usr/sbin/nginx";

export interface RunningNginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Why the nginx tier cannot run here, or undefined when it can. */
export function nginxUnavailable(): string | undefined {
  return existsSync(NGINX_BINARY) ? undefined : `nginx is not installed (${NGINX_BINARY})`;
}

/** `tls`: paths of the server's certificate and key (PEM), to serve https:// instead of http://. */
export async function startNginx(
  root: string,
  options: { tls?: { certFile: string; keyFile: string } } = {},
): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), "otaflow-nginx-"));
  // Workers may drop to an unprivileged user: they must be able to read the served directory.
  chmodSync(root, 0o755);
  chmodSync(prefix, 0o755);
  const port = await freePort();
  const config = join(prefix, "nginx.conf");
  writeFileSync(
    config,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(prefix, "nginx.pid")};
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, "body")};
  proxy_temp_path ${join(prefix, "proxy")};
  fastcgi_temp_path ${join(prefix, "fastcgi")};
  uwsgi_temp_path ${join(prefix, "uwsgi")};
  scgi_temp_path ${join(prefix, "scgi")};
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port}${options.tls ? " ssl" : ""};
    root ${root};${
      options.tls
        ? `
    ssl_certificate ${options.tls.certFile};
    ssl_certificate_key ${options.tls.keyFile};`
        : ""
    }
  }
}
`,
  );
  let stderr = "";
  const child: ChildProcess = spawn(NGINX_BINARY, ["-p", prefix, "-c", config, "-e", "stderr"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`nginx exited at start: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
