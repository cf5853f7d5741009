import { parseManifest } from "./manifest.js";
import type { BundleArchive } from "./read.js";

/** Where the bundle being handed over came from. */
export type BundleOrigin = "server" | "persisted" | "file";

export interface FetchedBundle {
  bytes: Buffer;
  archive: BundleArchive;
  /** The manifest's revision ("" when it names none or cannot be read; loadBundle reports why). */
  revision: string;
  etag: string;
  origin: BundleOrigin;
  /** Bundle URL or file path. */
  location: string;
  /** For origin "persisted": when it was saved. */
  savedAt?: string;
}

/**
 * Verifies, loads and activates a bundle. Resolving means activated; rejecting means refused
 * (the source logs the reason and keeps the current revision).
 */
export type BundleHandler = (bundle: FetchedBundle) => Promise<void>;

export interface BundleSourceStatus {
  /** What is serving: "none" until a bundle was accepted. */
  origin: BundleOrigin | "none";
  revision: string | undefined;
  digest: string | undefined;
  /** Last time the server (or file) answered usefully: a bundle or 304. */
  lastSuccessAt: string | undefined;
  lastError: string | undefined;
  /** Why the last refused bundle was refused. */
  lastRejection: string | undefined;
  consecutiveFailures: number;
}

export function manifestRevision(archive: BundleArchive): string {
  try {
    return parseManifest(archive.files.get(".manifest")).revision;
  } catch {
    return "";
  }
}
