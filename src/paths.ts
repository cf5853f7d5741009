import { fileURLToPath } from "node:url";
import path from "node:path";

/** The package root, whether running from src/ (tsx) or dist/ (compiled). */
export const packageRoot = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "..");

export const capabilitiesFile = path.join(packageRoot, "src", "policy", "capabilities.json");
