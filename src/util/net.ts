import { createServer } from 'node:net';

/** A free TCP port on `host`, closed again so a process can bind it. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** An inclusive range of TCP ports, e.g. from `--port-range 20000-20999`. */
export interface PortRange {
  from: number;
  to: number;
}

/** Reads `FROM-TO` (inclusive, 1024-65535); throws a message naming the flag when it is not one. */
export function parsePortRange(text: string, flag = '--port-range'): PortRange {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(text);
  const from = m ? Number(m[1]) : NaN;
  const to = m ? Number(m[2]) : NaN;
  if (!m || from < 1024 || to > 65535 || from > to) {
    throw new Error(`${flag}: '${text}' is not a port range; use FROM-TO with 1024 <= FROM <= TO <= 65535, e.g. 20000-20999`);
  }
  return { from, to };
}

function tryListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/**
 * A free port inside `range` on `host`, skipping the ports in `taken` (handed out but perhaps not
 * bound yet). Starts at a rotating offset so restarts do not all race for the first port. Throws
 * when every port of the range is busy, naming the range.
 */
export async function freePortInRange(host: string, range: PortRange, taken: ReadonlySet<number> = new Set()): Promise<number> {
  const size = range.to - range.from + 1;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = range.from + ((start + i) % size);
    if (taken.has(port)) continue;
    if (await tryListen(host, port)) return port;
  }
  throw new Error(`no free port in ${range.from}-${range.to} on ${host}: all ${size} are in use; widen --port-range`);
}

/** Where a server was told to listen, and how the user picks another address. */
export interface ListenTarget {
  /** What listens, e.g. "the control-plane API". */
  what: string;
  host: string;
  port: number;
  /** The flag and environment variable that choose the port, e.g. "--api-port P (CATAPULT_API_PORT)". */
  choose: string;
}

/**
 * Turns a failed listen into an error a user can act on: which address, who holds it (another
 * Catapult answers with its problem codes; anything else is "another program"), and how to pick
 * another port. Errors other than a taken or forbidden port come back unchanged.
 */
export async function explainListenError(err: unknown, target: ListenTarget): Promise<unknown> {
  const code = (err as { code?: unknown } | null)?.code;
  const address = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  if (code === 'EACCES') {
    return new Error(`${target.what} cannot listen on ${address}: ports below 1024 need root. Choose another with ${target.choose}.`);
  }
  if (code !== 'EADDRINUSE') return err;
  const holder = await whoAnswers(target.host, target.port);
  return new Error(
    `${target.what} cannot listen on ${address}: the port is in use by ${holder}. ` +
      `Stop it, or choose another port with ${target.choose} (0 picks any free port).`,
  );
}

/** A short description of what answers HTTP on host:port. */
async function whoAnswers(host: string, port: number): Promise<string> {
  const probeHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  // The control-plane API answers an unauthenticated call with a problem+json CATAPULT_ code; the
  // gateway names itself at /v2 (KServe's server metadata, open to all).
  const probes: [string, RegExp, string][] = [
    ['/api/v1/cluster/status', /"code"\s*:\s*"CATAPULT_/, 'another Catapult (its control-plane API answers there)'],
    ['/v2', /"name"\s*:\s*"catapult-gateway"/, 'another Catapult (its gateway answers there)'],
  ];
  let server: string | null | undefined;
  for (const [path, mark, who] of probes) {
    try {
      const res = await fetch(`http://${probeHost}:${port}${path}`, { signal: AbortSignal.timeout(1500) });
      if (mark.test(await res.text())) return who;
      server = res.headers.get('server');
    } catch {
      // Not HTTP, or not answering in time.
    }
  }
  if (server !== undefined) return `another program that answers HTTP${server ? ` (server: ${server})` : ''}`;
  return `another program (\`ss -ltnp 'sport = :${port}'\` shows which)`;
}
