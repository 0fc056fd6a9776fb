// A file as the destination of a package that is not firmware (ThingsBoard software): the
// application chooses the file, the agent writes and verifies it there, resumably.
import * as fs from "node:fs";
import { otaError } from "../../src/core/errors";
import type { SlotWriter } from "../../src/core/ports";

export class FileSlotWriter implements SlotWriter {
  readonly sectorSize = 4096;
  private fd = -1;
  private position = 0;

  constructor(
    private readonly path: string,
    /** Largest package accepted. */
    readonly size: number,
    readonly name = path,
  ) {}

  async begin(offset: number, totalSize: number): Promise<void> {
    if (totalSize > this.size) {
      throw otaError(
        "offer-too-large",
        `a package of ${totalSize} bytes exceeds ${this.size} bytes`,
      );
    }
    this.close();
    this.fd = fs.openSync(this.path, fs.existsSync(this.path) ? "r+" : "w+");
    // Whatever lies past the durable offset is from an interrupted attempt.
    fs.ftruncateSync(this.fd, Math.min(offset, fs.fstatSync(this.fd).size));
    if (fs.fstatSync(this.fd).size !== offset) {
      throw otaError("flash", `${this.path} holds fewer than the ${offset} bytes to resume from`);
    }
    this.position = offset;
  }

  async write(data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length)
      done += fs.writeSync(this.fd, data, done, data.length - done, this.position + done);
    this.position += data.length;
  }

  async finish(): Promise<void> {
    fs.fsyncSync(this.fd);
    this.close();
  }

  async abort(): Promise<void> {
    this.close();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const fd = fs.openSync(this.path, "r");
    try {
      const out = new Uint8Array(length);
      const got = fs.readSync(fd, out, 0, length, offset);
      return out.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  }

  private close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
