import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { ServerResponse } from "node:http";
import { packageRoot } from "../paths.js";
import { send } from "./http.js";

const DASHBOARD_DIR = path.join(packageRoot, "src", "admin", "dashboard");
// chart.js's package exports hide dist/, so find the package through its main entry.
const chartDir = path.dirname(createRequire(import.meta.url).resolve("chart.js"));

/** The only files the dashboard serves: a fixed list, so no request path ever reaches the file system. */
const ASSETS: Record<string, { file: string; type: string }> = {
  "/dashboard/": { file: path.join(DASHBOARD_DIR, "index.html"), type: "text/html; charset=utf-8" },
  "/dashboard/app.js": { file: path.join(DASHBOARD_DIR, "app.js"), type: "text/javascript; charset=utf-8" },
  "/dashboard/app.css": { file: path.join(DASHBOARD_DIR, "app.css"), type: "text/css; charset=utf-8" },
  "/dashboard/vendor/chart.umd.min.js": { file: path.join(chartDir, "chart.umd.min.js"), type: "text/javascript; charset=utf-8" },
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const cache = new Map<string, Buffer>();

/** Serves one dashboard file; false when the path is not one of them. */
export async function serveDashboardAsset(urlPath: string, res: ServerResponse): Promise<boolean> {
  if (urlPath === "/dashboard") {
    res.writeHead(308, { location: "/dashboard/", "content-length": 0 });
    res.end();
    return true;
  }
  const asset = ASSETS[urlPath];
  if (!asset) return false;
  let body = cache.get(asset.file);
  if (!body) {
    body = await readFile(asset.file);
    cache.set(asset.file, body);
  }
  send(res, 200, body, asset.type, { "content-security-policy": CSP, "x-frame-options": "DENY" });
  return true;
}
