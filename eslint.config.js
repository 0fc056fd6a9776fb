import js from "@eslint/js";
import tseslint from "typescript-eslint";

const BOARD_REGEXP =
  "No RegExp in code that runs on a board: Moddable's preload freezes module-level RegExps " +
  "(lastIndex becomes unwritable), and Espruino's regex engine lacks ?, {n,m}, (?: and lookahead. " +
  "Use the character tests of src/core/util/chars.ts.";

export default tseslint.config(
  { ignores: ["node_modules", "build", "dist", "docs/api"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // Code that runs on a board: Moddable's preload freezes module-level RegExps (exec and replace
    // then throw writing lastIndex), and Espruino's lexer ends a regex literal at the first "/" while
    // its engine lacks ?, {n,m}, (?:, lookahead and \u escapes and matches them wrongly without an
    // error. src/core/util/chars.ts has the character tests to use instead.
    files: ["src/**", "hosts/esp32/**", "hosts/lin/**", "hosts/espruino/**"],
    ignores: ["**/test/**"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "Literal[regex]",
          message: BOARD_REGEXP,
        },
        {
          selector: "NewExpression[callee.name='RegExp']",
          message: BOARD_REGEXP,
        },
        {
          selector: "CallExpression[callee.name='RegExp']",
          message: BOARD_REGEXP,
        },
        {
          selector: "CallExpression[callee.property.name=/^(match|matchAll|search)$/]",
          message:
            "String.prototype.search does not exist on Espruino, and match/matchAll take a RegExp: " +
            "scan with src/core/util/chars.ts (indexOfAny, indexWhere) instead.",
        },
      ],
    },
  },
);
