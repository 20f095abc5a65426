/** One part of a multipart/form-data body. */
export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

/** The boundary of a multipart/form-data content type, or undefined when it is not one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Splits a multipart/form-data body (RFC 7578) into its parts. The whole body is in memory already
 * (bodies are size-limited), so a buffer search is simpler than a streaming parser and as correct.
 * Throws an Error with a readable message when the body does not follow the format.
 */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new Error('multipart body does not contain its boundary');
  for (;;) {
    pos += delimiter.length;
    // "--" right after a delimiter closes the body.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts;
    const lineEnd = body.indexOf('\r\n', pos);
    if (lineEnd < 0) throw new Error('multipart body ends inside a boundary line');
    const headerEnd = body.indexOf('\r\n\r\n', lineEnd);
    if (headerEnd < 0) throw new Error('multipart part has no blank line after its headers');
    const headers = parseHeaders(body.toString('utf8', lineEnd + 2, headerEnd));
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    if (next < 0) throw new Error('multipart body has no closing boundary');
    const disposition = headers.get('content-disposition') ?? '';
    const name = dispositionParam(disposition, 'name');
    if (!/^form-data\b/i.test(disposition) || name === undefined) {
      throw new Error('multipart part lacks Content-Disposition: form-data; name="…"');
    }
    const filename = dispositionParam(disposition, 'filename');
    const contentType = headers.get('content-type');
    parts.push({
      name,
      ...(filename !== undefined ? { filename } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
      data: body.subarray(headerEnd + 4, next),
    });
    pos = next + 2;
  }
}

function parseHeaders(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) map.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return map;
}

function dispositionParam(disposition: string, param: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${param}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(disposition);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2];
}
