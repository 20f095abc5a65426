import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { escapesFolder } from './archive.js';

/**
 * Credentials for an S3-compatible store. Kept server-side only (never returned by the API); stored
 * in the `source_credentials` column until the secrets module encrypts them at rest.
 */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  endpoint?: string;
  region?: string;
}

export function parseS3(source: string): { bucket: string; prefix: string } | undefined {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(source);
  return m ? { bucket: m[1]!, prefix: m[2]!.replace(/\/+$/, '') } : undefined;
}

/** Why a download could not finish: the model's error. */
export class SourceError extends Error {}

/**
 * Downloads `s3://bucket/prefix` into `dest`: one object when the prefix names one, else every object
 * under `prefix/` as a folder. Writes to `dest.partial` and renames, so a failed or interrupted
 * download leaves nothing behind. Returns the local path of the model.
 */
export async function downloadS3(source: string, dest: string, creds: S3Credentials | null): Promise<string> {
  const loc = parseS3(source);
  if (!loc) throw new SourceError(`'${source}' is not an s3://bucket/prefix URI`);
  const client = new S3Client({
    region: creds?.region ?? 'us-east-1',
    ...(creds?.endpoint ? { endpoint: creds.endpoint, forcePathStyle: true } : {}),
    ...(creds ? { credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey } } : {}),
  });
  const partial = `${dest}.partial`;
  try {
    const keys: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) keys.push({ key: o.Key, size: Number(o.Size ?? 0) });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const exact = keys.find((k) => k.key === loc.prefix);
    const under = keys.filter((k) => loc.prefix === '' || k.key.startsWith(`${loc.prefix}/`));
    if (!exact && under.length === 0) throw new SourceError(`nothing at s3://${loc.bucket}/${loc.prefix}`);
    await rm(partial, { recursive: true, force: true });
    const files = exact ? [{ key: exact.key, rel: exact.key.split('/').pop()! }] : under.map((k) => ({ key: k.key, rel: loc.prefix ? k.key.slice(loc.prefix.length + 1) : k.key }));
    for (const f of files) {
      if (!f.rel || f.rel.endsWith('/')) continue;
      if (escapesFolder(f.rel)) throw new SourceError(`object key '${f.key}' would be written outside the model folder`);
      const target = join(partial, f.rel);
      await mkdir(dirname(target), { recursive: true });
      const obj = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: f.key }));
      if (!obj.Body) throw new SourceError(`object '${f.key}' has no body`);
      await pipeline(obj.Body as Readable, createWriteStream(target));
    }
    await rm(dest, { recursive: true, force: true });
    await rename(partial, dest);
    return exact ? join(dest, files[0]!.rel) : dest;
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    const e = err as { name?: string; message: string };
    if (err instanceof SourceError) throw err;
    if (e.name === 'NoSuchBucket' || e.name === 'NoSuchKey' || e.name === 'AccessDenied' || e.name === 'InvalidAccessKeyId' || e.name === 'SignatureDoesNotMatch') {
      throw new SourceError(`S3 refused ${source}: ${e.name}: ${e.message}`);
    }
    throw err;
  } finally {
    client.destroy();
  }
}
