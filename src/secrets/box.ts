import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CatapultError } from '../errors/index.js';

/** Prefix of every sealed value; a value without it is a plain (legacy) one. */
export const SEALED_PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
/** The key file created in the data dir when no key is configured. */
export const SECRET_KEY_FILE = 'secret.key';

/** Where the key came from, for error messages. */
export type KeySource = { kind: 'setting' } | { kind: 'file'; file: string };

/** A short, public fingerprint of a key: which key sealed a value, without revealing it. */
function keyId(key: Buffer): string {
  return createHash('sha256').update('catapult-secret-key-id\0').update(key).digest('base64url').slice(0, 8);
}

/** Decodes a 32-byte key written as base64 or base64url; null when it is not one. */
export function decodeSecretKey(text: string): Buffer | null {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return null;
  const key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === KEY_BYTES ? key : null;
}

/**
 * Authenticated encryption (AES-256-GCM) of the secrets Catapult stores: endpoint auth headers,
 * route upstream headers, benchmark target headers. A sealed value is one line of text,
 * `enc:v1:<key id>:<iv>:<tag>:<ciphertext>` (base64url), so it fits the text columns the plain value
 * had. `open` returns a plain value as it is, so rows written before encryption still read.
 */
export class SecretBox {
  readonly keyId: string;

  constructor(
    private readonly key: Buffer,
    readonly source: KeySource,
  ) {
    if (key.length !== KEY_BYTES) throw new Error(`a secret key has ${KEY_BYTES} bytes, not ${key.length}`);
    this.keyId = keyId(key);
  }

  /** A new random key, base64: what `secretKey` or the key file holds. */
  static generateKey(): string {
    return randomBytes(KEY_BYTES).toString('base64');
  }

  static isSealed(value: string): boolean {
    return value.startsWith(SEALED_PREFIX);
  }

  seal(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    // The key id is authenticated too, so a value cannot be passed off as another key's.
    cipher.setAAD(Buffer.from(this.keyId));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${SEALED_PREFIX}${this.keyId}:${iv.toString('base64url')}:${tag.toString('base64url')}:${body.toString('base64url')}`;
  }

  /** The plain text of a sealed value, or a plain value as it is. Throws CATAPULT_SECRET_KEY_MISMATCH for another key's value. */
  open(value: string): string {
    if (!SecretBox.isSealed(value)) return value;
    const parts = value.slice(SEALED_PREFIX.length).split(':');
    if (parts.length !== 4) throw this.mismatch('it is not a well-formed sealed value', null);
    const [id, iv, tag, body] = parts as [string, string, string, string];
    if (id !== this.keyId) throw this.mismatch(`it was sealed with key ${id}, and this server's key is ${this.keyId}`, id);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw this.mismatch('it fails authentication (altered, or sealed with another key of the same id)', id);
    }
  }

  /** `seal` for a value that may be absent. */
  sealNullable(plain: string | null): string | null {
    return plain === null ? null : this.seal(plain);
  }

  /** `open` for a value that may be absent. */
  openNullable(value: string | null): string | null {
    return value === null ? null : this.open(value);
  }

  /** A JSON document sealed as one value (a header map). */
  sealJson(value: unknown): string {
    return this.seal(JSON.stringify(value));
  }

  /** The document `sealJson` sealed, or a plain JSON text as it is parsed. */
  openJson<T>(value: string | null, fallback: T): T {
    if (value === null) return fallback;
    return JSON.parse(this.open(value)) as T;
  }

  /** Each value of a header map sealed (names stay readable: they are not secret). */
  sealHeaders(headers: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, SecretBox.isSealed(v) ? v : this.seal(v)]));
  }

  /** The plain values of a map `sealHeaders` made (plain values pass through). */
  openHeaders(headers: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, this.open(v)]));
  }

  private mismatch(why: string, sealedWith: string | null): CatapultError {
    const where = this.source.kind === 'setting' ? 'the secretKey setting (CATAPULT_SECRET_KEY)' : `${this.source.file} (no secretKey / CATAPULT_SECRET_KEY is set)`;
    return new CatapultError(
      'CATAPULT_SECRET_KEY_MISMATCH',
      `A stored secret cannot be decrypted with the key from ${where}: ${why}. Give this server the key the secret was stored with, as secretKey (CATAPULT_SECRET_KEY) or in <dataDir>/${SECRET_KEY_FILE}.`,
      { keyId: this.keyId, sealedWith },
    );
  }
}

/**
 * The server's secret box: the configured `secretKey` (base64, 32 bytes; the same on every server that
 * shares a database), or else `<dataDir>/secret.key`, created (mode 0600, data dir 0700) on first start.
 * The key is never stored in the database, so a copy of the database alone reveals no secret.
 */
export function loadSecretBox(opts: { secretKey: string; dataDir: string }): SecretBox {
  if (opts.secretKey !== '') {
    const key = decodeSecretKey(opts.secretKey);
    if (!key) throw new Error(`secretKey (CATAPULT_SECRET_KEY) must be ${KEY_BYTES} bytes in base64 (e.g. from \`openssl rand -base64 32\`)`);
    return new SecretBox(key, { kind: 'setting' });
  }
  const file = join(opts.dataDir, SECRET_KEY_FILE);
  if (!existsSync(file)) {
    if (!existsSync(opts.dataDir)) mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    try {
      // 'wx': two servers starting at once over one data dir must not each write their own key.
      writeFileSync(file, `${SecretBox.generateKey()}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  chmodSync(file, 0o600);
  const key = decodeSecretKey(readFileSync(file, 'utf8'));
  if (!key) throw new Error(`${file} does not hold a ${KEY_BYTES}-byte base64 key; restore the file the server created, or set secretKey (CATAPULT_SECRET_KEY)`);
  return new SecretBox(key, { kind: 'file', file });
}
