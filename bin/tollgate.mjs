#!/usr/bin/env node
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/index.js", import.meta.url));
if (!existsSync(compiled)) {
  process.stderr.write("tollgate: not built yet; run `npm run build` first\n");
  process.exit(2);
}
const { main } = await import(compiled);
await main(process.argv);
