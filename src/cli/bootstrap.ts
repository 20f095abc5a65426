import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyService } from '../auth/index.js';

export interface AdminBootstrap {
  /** The secret, only when it was created just now. */
  created?: string;
  file: string;
}

/**
 * On first start, creates an admin key and writes it to `<dataDir>/admin.key` (mode 0600).
 * Later starts reuse the file when its key is still valid.
 */
export async function ensureAdminKey(keys: KeyService, dataDir: string): Promise<AdminBootstrap> {
  const file = join(dataDir, 'admin.key');
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (await keys.authenticate(secret)) return { file };
  }
  if (await keys.hasActiveAdmin()) {
    // Someone already holds an admin key (for example, a shared Postgres); do not mint another.
    return { file };
  }
  const { secret } = await keys.create({ name: 'bootstrap admin', scopes: ['admin'] }, null);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { created: secret, file };
}
