// Every cloud the bundle knows, by the name "backend" takes in the settings. A build for one cloud
// (`npm run build:espruino -- --cloud aws`) replaces this module with one naming only that cloud.
import { awsCloud } from "./aws";
import type { CloudOf } from "./cloud";
import { tencentCloud } from "./tencent";
import { thingsBoardCloud } from "./thingsboard";

export const CLOUDS: Record<string, CloudOf> = {
  aws: awsCloud,
  thingsboard: thingsBoardCloud,
  tencent: tencentCloud,
};
