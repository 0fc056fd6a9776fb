#!/usr/bin/env node
// The `otaflow` command: runs the TypeScript command line through tsx, from any directory.
import { register } from "tsx/esm/api";

register();
await import("./cli.ts");
