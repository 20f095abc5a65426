import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

interface LockPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

describe('the declared Node versions', () => {
  it('are ones every installed package supports, so `npm ci` gives no EBADENGINE warning', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
    const declared = new semver.Range(pkg.engines.node);
    // The oldest release of each line the range admits: if those work, the rest of each line does too.
    const oldest = declared.set.map((comparators) => semver.minVersion(new semver.Range(comparators.map((c) => c.value).join(' ')))!.version);
    expect(oldest.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const wants = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      // Platform packages npm skips here (another CPU or OS) are never installed, so never warned about.
      if (path === '' || !wants || !existsSync(join(ROOT, path))) continue;
      for (const v of oldest) if (!semver.satisfies(v, wants)) problems.push(`${path}@${entry.version} needs Node ${wants}, not ${v}`);
    }
    expect(problems).toEqual([]);
  });
});
