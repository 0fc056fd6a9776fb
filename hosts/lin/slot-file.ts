// The inactive slot of the Linux target: a file per slot, written at offsets. Bytes before a resume
// offset stay as they are, so a download resumes after the process is killed, as on the board.
import { otaError } from "../../src/core/errors";
import type { SlotWriter } from "../../src/core/ports";
import { checkBegin, checkRead, checkWrite } from "../esp32/slot-common";
import { readBytes, writeBytes } from "./files";

export const SECTOR_SIZE = 4096;

export class FileSlot implements SlotWriter {
  readonly sectorSize = SECTOR_SIZE;
  private writing = false;
  private position = 0;
  private total = 0;

  constructor(
    readonly name: string,
    readonly size: number,
    private readonly path: string,
  ) {}

  async begin(offset: number, totalSize: number): Promise<void> {
    checkBegin(this, offset, totalSize);
    this.position = offset;
    this.total = totalSize;
    this.writing = true;
  }

  async write(data: Uint8Array): Promise<void> {
    if (!this.writing) throw otaError("internal", `${this.name}: write() without begin()`);
    if (data.length === 0) return;
    checkWrite(this, this.position, this.total, data);
    writeBytes(this.path, this.position, data);
    this.position += data.length;
  }

  async finish(): Promise<void> {
    if (!this.writing) throw otaError("internal", `${this.name}: finish() without begin()`);
    this.writing = false;
    if (this.position !== this.total)
      throw otaError(
        "body-short",
        `${this.name} holds ${this.position} of the ${this.total} bytes announced`,
      );
  }

  async abort(): Promise<void> {
    this.writing = false;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRead(this, offset, length);
    const bytes = readBytes(this.path, offset, length);
    if (bytes.length === length) return bytes;
    // Never written: erased flash reads as 0xFF.
    const out = new Uint8Array(length).fill(0xff);
    out.set(bytes);
    return out;
  }
}
