// The project's modules run here as a Moddable app's preload leaves them (test/xs/preload.ts):
// their module-level objects are read-only, so code that writes one after load fails here as it
// does on the board; a global RegExp at module scope, whose lastIndex replace() writes, was one.
import { CHIP_NAMES } from "../../../src/core/image/esp-image";
import { HASH_ALGORITHMS } from "../../../src/core/hash/index";
import { cleanText, hasUnsafeCharacters, quoted } from "../../../src/core/util/text";
import { check, type Cases } from "../runtime";

function throwsTypeError(action: () => void): boolean {
  try {
    action();
    return false;
  } catch (error) {
    return error instanceof TypeError;
  }
}

export default {
  "module-level objects of preloaded modules are frozen"() {
    const frozen = {
      HASH_ALGORITHMS: Object.isFrozen(HASH_ALGORITHMS),
      CHIP_NAMES: Object.isFrozen(CHIP_NAMES),
    };
    check(
      frozen.HASH_ALGORITHMS && frozen.CHIP_NAMES,
      "a preloaded module-level object is writable",
    );
    const refused = throwsTypeError(() => {
      (CHIP_NAMES as Record<number, string>)[99] = "esp99";
    });
    check(refused, "a write to a preloaded object did not throw");
    return { frozen, refused };
  },

  "text cleaning works in preloaded modules"() {
    return {
      cleaned: cleanText(" line\nbreak\u202e and \u0007bell \ud800 "),
      unsafe: hasUnsafeCharacters("a\u2028b"),
      quoted: quoted("x\r\ny"),
      cut: cleanText("0123456789", 8),
    };
  },
} satisfies Cases;
