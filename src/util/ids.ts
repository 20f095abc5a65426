import { monotonicFactory } from 'ulidx';

const ulid = monotonicFactory();

/**
 * A new identifier: a short kind prefix and a ULID, so ids sort by creation time and say what they name
 * (`key_01J...`, `dep_01J...`).
 */
export function newId(prefix: string): string {
  return `${prefix}_${ulid().toLowerCase()}`;
}
