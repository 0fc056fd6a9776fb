// Signed-app checks at boot (CONFIG_SECURE_SIGNED_ON_BOOT, or Secure Boot V2): the bootloader
// verifies the Secure Boot V2 signature sector that follows the image at the next 4 KiB boundary,
// against the public-key digests burnt into the chip's eFuses. The verification is the core's
// (src/core/signature), the one the agent runs on a download.
import { isOtaError } from "../../src/core/errors";
import { SignatureCheck } from "../../src/core/signature/check";
import type { AppSignatureVerifier } from "./bootloader";
import { nodeDigests } from "./digests";
import { nodeSignatures } from "./signatures";

export const verifySecureBootV2: AppSignatureVerifier = (image, signedLength, keyDigests) => {
  if (keyDigests.length === 0) return "no Secure Boot V2 key digest in the eFuses";
  try {
    const keys = keyDigests.map((digest) => ({ digest }));
    const check = new SignatureCheck(image.length, undefined, keys, nodeDigests, nodeSignatures);
    if (check.signedLength !== signedLength)
      return `no signature sector at 0x${signedLength.toString(16)}, after the image`;
    check.update(image);
    check.finish();
    return undefined;
  } catch (error) {
    if (isOtaError(error) && error.code === "signature-invalid") return error.message;
    throw error;
  }
};
