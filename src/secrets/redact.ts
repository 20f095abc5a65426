import { isAlias, isMap, isScalar, parseDocument } from 'yaml';

/** What a redacted value shows in place of the characters it hides. */
export const ELLIPSIS = '…';

/** Authorization schemes kept in clear before the credential (`Bearer sk-…765`). */
const SCHEME = /^(Bearer|Basic|Token|Digest|ApiKey|Api-Key|Key|Negotiate|AWS4-HMAC-SHA256)\s+/i;

/**
 * A secret as people may see it: its scheme, then at most a third of the credential around an
 * ellipsis, so two credentials can be told
 * apart without the value being usable (at most 4 leading and 3 trailing characters). Credentials
 * under 12 characters are fully masked.
 */
export function redact(value: string): string {
  const m = SCHEME.exec(value);
  const scheme = m ? m[0] : '';
  const secret = value.slice(scheme.length);
  if (secret.length < 12) return `${scheme}${ELLIPSIS}`;
  const shown = Math.min(7, Math.floor(secret.length / 3));
  const tail = Math.min(3, Math.floor(shown / 2));
  const head = shown - tail;
  return `${scheme}${secret.slice(0, head)}${ELLIPSIS}${secret.slice(secret.length - tail)}`;
}

/**
 * Header names whose values are not secret and are shown as they are. Every other header is treated
 * as a credential: an allow-list, so a custom `x-my-auth` header is hidden without anyone listing it.
 */
const SAFE_HEADERS = new Set([
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'connection',
  'content-encoding',
  'content-language',
  'content-length',
  'content-type',
  'host',
  'origin',
  'pragma',
  'referer',
  'te',
  'user-agent',
  'x-request-id',
  'x-correlation-id',
  'x-session-id',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'traceparent',
  'tracestate',
]);

/** Whether a header's value is a secret (anything not on the allow-list of plain headers). */
export function isSecretHeader(name: string): boolean {
  return !SAFE_HEADERS.has(name.toLowerCase());
}

/** A copy of `headers` with every secret header's value redacted. */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name] = isSecretHeader(name) && typeof value === 'string' ? redact(value) : value;
  return out;
}

/** Where a benchmark recipe carries request headers: the target's, and the `http` workload's. */
export const RECIPE_HEADER_PATHS = [
  ['target', 'headers'],
  ['workload', 'headers'],
] as const;

/** A copy of a benchmark recipe (or anything shaped like one) with `f` applied to each header map of RECIPE_HEADER_PATHS. */
export function mapRecipeHeaders<T>(recipe: T, f: (headers: Record<string, string>) => Record<string, string>): T {
  if (recipe === null || typeof recipe !== 'object') return recipe;
  let out = recipe as Record<string, unknown>;
  for (const [section, field] of RECIPE_HEADER_PATHS) {
    const part = out[section] as Record<string, unknown> | undefined;
    const headers = part?.[field];
    if (!part || headers === null || typeof headers !== 'object') continue;
    out = { ...out, [section]: { ...part, [field]: f(headers as Record<string, string>) } };
  }
  return out as T;
}

/** A benchmark recipe with its secret header values redacted; other fields as they are. */
export function redactRecipe<T>(recipe: T): T {
  return mapRecipeHeaders(recipe, redactHeaders);
}

/**
 * A recipe's YAML (or JSON) text with the secret header values redacted in place: comments, layout
 * and line numbers stay as written, so validation messages that name a line still point right.
 * Text that does not parse has every secret-looking `name: value` line masked instead.
 */
export function redactRecipeText(text: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return redactUnparsed(text);
  // Replace each value's source span, from the end so earlier offsets stay valid.
  const edits: { start: number; end: number; value: string }[] = [];
  for (const path of RECIPE_HEADER_PATHS) {
    const headers = doc.getIn(path, true);
    if (!isMap(headers)) continue;
    for (const pair of headers.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!isSecretHeader(name)) continue;
      // An alias's secret is written where its anchor is.
      const node = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
      if (!isScalar(node) || !node.range) continue;
      const [start, end] = node.range;
      // A block scalar spans lines: keep them, so later line numbers do not move.
      const lines = (text.slice(start, end).match(/\n/g) ?? []).length;
      edits.push({ start, end, value: JSON.stringify(redact(String(node.value))) + '\n'.repeat(lines) });
    }
  }
  let out = text;
  const seen = new Set<number>();
  for (const e of edits.sort((x, y) => y.start - x.start)) {
    if (seen.has(e.start)) continue;
    seen.add(e.start);
    out = out.slice(0, e.start) + e.value + out.slice(e.end);
  }
  return out;
}

/** Masks anything after a header-like `name: value` whose name is not a plain header. */
function redactUnparsed(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const m = /^(\s*["']?)([A-Za-z0-9-]+)(["']?\s*:\s*)(.+)$/.exec(line);
      if (!m || !isSecretHeader(m[2]!) || !/auth|key|token|secret|password|cookie|credential/i.test(m[2]!)) return line;
      return `${m[1]}${m[2]}${m[3]}${JSON.stringify(ELLIPSIS)}`;
    })
    .join('\n');
}
