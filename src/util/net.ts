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
