#!/usr/bin/env node
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = (file) => fileURLToPath(new URL(`../dist/cli/${file}`, import.meta.url));
if (!existsSync(dist("index.js"))) {
  process.stderr.write("tollgate: not built yet; run `npm run build` first\n");
  process.exit(2);
}
if (process.argv[2] === "serve") (await import(dist("v8-pool.js"))).relaunchWithPoolSize();
const { main } = await import(dist("index.js"));
await main(process.argv);
