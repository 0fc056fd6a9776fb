// The simulated chip's eFuses that OTA touches: the anti-rollback secure_version
// (esp_efuse_read_secure_version / esp_efuse_check_secure_version / esp_efuse_update_secure_version)
// and the Secure Boot V2 public-key digests (BLOCK_KEYn with purpose SECURE_BOOT_DIGESTn).
// eFuses belong to the chip, not the flash, so they live beside the flash file, in FLASH.efuse:
// a fresh flash file is a fresh board. Burning is one-way: secure_version only rises. Each write
// goes to a temporary file renamed over the old one, so a power cut leaves the old or the new.
import * as fs from "node:fs";

interface EfuseFields {
  secureVersion: number;
  /** SHA-256 digests (hex) of the trusted Secure Boot V2 public keys; empty: signed-app checks off. */
  keyDigests: string[];
}

function efusePath(flashPath: string): string {
  return `${flashPath}.efuse`;
}

export class SimEfuses {
  private constructor(
    private readonly file: string,
    private fields: EfuseFields,
    /** Bits of the secure_version field, burnt one per version (a unary count). */
    private readonly secureVersionBits: number,
  ) {}

  /** The eFuses of the board whose flash is at flashPath: all zero when never burnt. */
  static open(flashPath: string, secureVersionBits = 32): SimEfuses {
    const file = efusePath(flashPath);
    let fields: EfuseFields = { secureVersion: 0, keyDigests: [] };
    if (fs.existsSync(file)) {
      const read = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<EfuseFields>;
      fields = {
        secureVersion: Number.isInteger(read.secureVersion) ? read.secureVersion! : 0,
        keyDigests: Array.isArray(read.keyDigests) ? read.keyDigests.map(String) : [],
      };
    }
    return new SimEfuses(file, fields, secureVersionBits);
  }

  /** A new board's chip: nothing burnt. Called when its flash file is created. */
  static blank(flashPath: string, secureVersionBits = 32): SimEfuses {
    fs.rmSync(efusePath(flashPath), { force: true });
    return SimEfuses.open(flashPath, secureVersionBits);
  }

  /** esp_efuse_read_secure_version. */
  readSecureVersion(): number {
    return this.fields.secureVersion;
  }

  /** esp_efuse_check_secure_version: an app may run when its secure_version is not below the eFuse. */
  checkSecureVersion(secureVersion: number): boolean {
    return secureVersion <= this.secureVersionBits && secureVersion >= this.fields.secureVersion;
  }

  /** esp_efuse_update_secure_version: burns up to secureVersion, never down. */
  updateSecureVersion(secureVersion: number): void {
    if (secureVersion > this.secureVersionBits)
      throw new Error(
        `secure_version ${secureVersion} exceeds the ${this.secureVersionBits}-bit eFuse field`,
      );
    if (secureVersion <= this.fields.secureVersion) return;
    this.save({ ...this.fields, secureVersion });
  }

  /** The Secure Boot V2 key digests burnt into the chip (hex). */
  keyDigests(): readonly string[] {
    return this.fields.keyDigests;
  }

  /** Burns the digests of up to three Secure Boot V2 keys; digests already there stay. */
  burnKeyDigests(digests: string[]): void {
    const all = [...this.fields.keyDigests];
    for (const digest of digests) if (!all.includes(digest)) all.push(digest);
    if (all.length > 3) throw new Error("a chip holds at most three Secure Boot V2 key digests");
    this.save({ ...this.fields, keyDigests: all });
  }

  private save(fields: EfuseFields): void {
    const temporary = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(fields));
    fs.renameSync(temporary, this.file);
    this.fields = fields;
  }
}
