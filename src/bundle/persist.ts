import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { TollgateError } from "../errors.js";

/**
 * The last activated bundle, kept under <stateDir>/bundles/<name>/: the archive as
 * bundle-<digest>.tar.gz and a current.json naming it. Each file is written to a temporary name,
 * fsynced and renamed, and current.json is swapped last, so a crash at any point leaves either
 * the old or the new bundle, never a mix.
 */

const metaSchema = z
  .object({
    version: z.literal(1),
    file: z.string().regex(/^bundle-[0-9a-f]{64}\.tar\.gz$/),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.number().int().nonnegative(),
    revision: z.string(),
    etag: z.string(),
    location: z.string(),
    keyId: z.string().optional(),
    savedAt: z.string(),
  })
  .strict();

export type PersistedBundleMeta = z.infer<typeof metaSchema>;

export interface BundleStateOptions {
  stateDir: string;
  /** One folder per source, e.g. "active" and "candidate". */
  name?: string;
}

export interface PersistBundleInput extends BundleStateOptions {
  bytes: Buffer;
  revision: string;
  etag?: string;
  /** Where it came from (bundle URL or file), for the "served from disk" log line. */
  location: string;
  keyId?: string;
}

const CURRENT = "current.json";

function folder(options: BundleStateOptions): string {
  const name = options.name ?? "active";
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === "." || name === "..") throw new TollgateError("config_error", `invalid bundle state name ${JSON.stringify(name)}`);
  return path.join(path.resolve(options.stateDir), "bundles", name);
}

async function writeDurably(file: string, content: Buffer | string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const handle = await open(tmp, "w", 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const queues = new Map<string, Promise<unknown>>();

/** Saves a bundle as the last activated one. Concurrent saves to one folder run one after another. */
export async function persistBundle(input: PersistBundleInput): Promise<PersistedBundleMeta> {
  const dir = folder(input);
  const previous = queues.get(dir) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => save(dir, input));
  queues.set(dir, run);
  try {
    return await run;
  } finally {
    if (queues.get(dir) === run) queues.delete(dir);
  }
}

async function save(dir: string, input: PersistBundleInput): Promise<PersistedBundleMeta> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const digest = createHash("sha256").update(input.bytes).digest("hex");
    const meta: PersistedBundleMeta = {
      version: 1,
      file: `bundle-${digest}.tar.gz`,
      digest,
      size: input.bytes.length,
      revision: input.revision,
      etag: input.etag ?? "",
      location: input.location,
      ...(input.keyId === undefined ? {} : { keyId: input.keyId }),
      savedAt: new Date().toISOString(),
    };
    await writeDurably(path.join(dir, meta.file), input.bytes);
    await writeDurably(path.join(dir, CURRENT), `${JSON.stringify(meta, null, 2)}\n`);
    await syncDir(dir);
    for (const entry of await readdir(dir)) {
      if (entry !== CURRENT && entry !== meta.file) await rm(path.join(dir, entry), { force: true });
    }
    return meta;
  } catch (err) {
    throw new TollgateError("internal_error", `cannot persist bundle under ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The last persisted bundle, or undefined when none was ever saved. A damaged state (unreadable
 * current.json, missing archive, digest mismatch) throws, so the caller can say why it is not used.
 */
export async function loadPersistedBundle(options: BundleStateOptions): Promise<{ bytes: Buffer; meta: PersistedBundleMeta } | undefined> {
  const dir = folder(options);
  let text: string;
  try {
    text = await readFile(path.join(dir, CURRENT), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TollgateError("internal_error", `persisted bundle ${dir}: ${(err as Error).message}`, { cause: err });
  }
  let meta: PersistedBundleMeta;
  try {
    meta = metaSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new TollgateError("internal_error", `persisted bundle ${dir}: damaged ${CURRENT}`, { cause: err });
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, meta.file));
  } catch (err) {
    throw new TollgateError("internal_error", `persisted bundle ${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (createHash("sha256").update(bytes).digest("hex") !== meta.digest) {
    throw new TollgateError("internal_error", `persisted bundle ${dir}: ${meta.file} does not match its recorded digest`);
  }
  return { bytes, meta };
}
