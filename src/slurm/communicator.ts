import { createHash } from 'node:crypto';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { CatapultError } from '../errors/index.js';

/** How to reach one cluster's login node. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** OpenSSH or PEM private key text. */
  privateKey: string;
  /**
   * The login node's public host key, as in known_hosts or a `.pub` file (`ssh-ed25519 AAAA…`), or its
   * `SHA256:…` fingerprint. A server presenting any other key is refused.
   */
  hostKey: string;
  /** Optional jump host (ProxyJump); verified the same way. */
  jump?: { host: string; port: number; user: string; privateKey: string; hostKey: string } | null;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Run in this directory (`cd DIR && …`). */
  cwd?: string;
  timeoutMs?: number;
  /** Text written to the command's stdin. */
  stdin?: string;
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The key blob (base64) of an OpenSSH public key line, or the fingerprint as given. */
function expectedKey(hostKey: string): { blob?: string; fingerprint?: string } {
  const t = hostKey.trim();
  if (t.startsWith('SHA256:')) return { fingerprint: t };
  const parts = t.split(/\s+/);
  const i = parts.findIndex((p) => /^(ssh-|ecdsa-|sk-)/.test(p));
  const blob = i >= 0 ? parts[i + 1] : parts[0];
  return { blob };
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * One multiplexed SSH session to a cluster's login node: every command is a channel of the same
 * connection. A dropped connection is re-established on the next call, with exponential backoff
 * between failed attempts; a command that fails because the connection dropped is retried once on the
 * new one when `retry` allows it.
 */
export class SshCommunicator {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private failures = 0;
  private nextAttemptAt = 0;
  private closed = false;
  /** Commands run (for the benchmark's count of state queries). */
  commands = 0;

  constructor(
    private readonly target: SshTarget,
    private readonly opts: { connectTimeoutMs?: number; maxBackoffMs?: number; label?: string } = {},
  ) {}

  private verifier(expect: string, where: string): { verify: (key: Buffer) => boolean; seen: () => string | undefined } {
    const want = expectedKey(expect);
    let seen: string | undefined;
    return {
      verify: (key: Buffer) => {
        seen = fingerprint(key);
        if (want.fingerprint) return want.fingerprint === seen;
        return key.toString('base64') === want.blob;
      },
      seen: () => (seen ? `${where} presented ${seen}` : undefined),
    };
  }

  private connectOnce(): Promise<Client> {
    const t = this.target;
    const timeout = this.opts.connectTimeoutMs ?? 10_000;
    const open = (cfg: ConnectConfig, where: string, hostKey: string): Promise<Client> =>
      new Promise((resolve, reject) => {
        const c = new Client();
        const v = this.verifier(hostKey, where);
        let hostKeyRefused = false;
        c.once('ready', () => resolve(c));
        c.once('error', (err: Error & { level?: string; code?: string }) => {
          c.end();
          if (hostKeyRefused || /host key/i.test(err.message)) {
            reject(
              new CatapultError(
                'CATAPULT_SLURM_HOST_KEY_MISMATCH',
                `The host key of ${where} does not match the one configured for this cluster (${v.seen() ?? 'no key seen'}). Refusing to connect: check the key with ssh-keyscan and update the cluster's hostKey if the change is expected.`,
                { host: where, presented: v.seen() ?? null },
              ),
            );
          } else if (err.level === 'client-authentication') {
            reject(new CatapultError('CATAPULT_SLURM_AUTH_FAILED', `${where} refused the private key for user ${cfg.username}: ${err.message}.`, { host: where }));
          } else {
            reject(new CatapultError('CATAPULT_SLURM_UNREACHABLE', `Cannot reach ${where}: ${err.message}.`, { host: where }));
          }
        });
        c.connect({
          ...cfg,
          readyTimeout: timeout,
          keepaliveInterval: 10_000,
          hostVerifier: (key: Buffer) => {
            const ok = v.verify(key);
            if (!ok) hostKeyRefused = true;
            return ok;
          },
        });
      });

    return (async () => {
      let privateKey: ConnectConfig['privateKey'];
      try {
        privateKey = t.privateKey;
        if (!t.jump) return await open({ host: t.host, port: t.port, username: t.user, privateKey }, `${t.host}:${t.port}`, t.hostKey);
        const j = t.jump;
        const jump = await open({ host: j.host, port: j.port, username: j.user, privateKey: j.privateKey }, `${j.host}:${j.port} (jump host)`, j.hostKey);
        const sock = await new Promise<NodeJS.ReadWriteStream>((resolve, reject) =>
          jump.forwardOut('127.0.0.1', 0, t.host, t.port, (err, stream) => (err ? reject(new CatapultError('CATAPULT_SLURM_UNREACHABLE', `The jump host cannot reach ${t.host}:${t.port}: ${err.message}.`)) : resolve(stream))),
        );
        const c = await open({ sock: sock as unknown as ConnectConfig['sock'], username: t.user, privateKey }, `${t.host}:${t.port}`, t.hostKey);
        c.once('close', () => jump.end());
        return c;
      } catch (err) {
        if (err instanceof CatapultError) throw err;
        // ssh2 throws synchronously on a key it cannot parse.
        throw new CatapultError('CATAPULT_SLURM_AUTH_FAILED', `The private key cannot be used: ${(err as Error).message}.`);
      }
    })();
  }

  /** The open session, connecting (or reconnecting, after its backoff) when there is none. */
  async session(): Promise<Client> {
    if (this.closed) throw new CatapultError('CATAPULT_SLURM_UNREACHABLE', 'The SSH session to this cluster is closed.');
    if (this.client) return this.client;
    if (this.connecting) return this.connecting;
    const wait = this.nextAttemptAt - Date.now();
    this.connecting = (async () => {
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        const c = await this.connectOnce();
        this.failures = 0;
        this.client = c;
        const drop = () => {
          if (this.client === c) {
            this.client = undefined;
            this.sftpSession = undefined;
          }
        };
        c.on('close', drop);
        c.on('error', drop);
        return c;
      } catch (err) {
        this.failures++;
        this.nextAttemptAt = Date.now() + Math.min(this.opts.maxBackoffMs ?? 5_000, 250 * 2 ** (this.failures - 1));
        throw err;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  /** Runs a command through the shared session. Retries once on a fresh connection when the old one was gone. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    try {
      return await this.execOnce(command, opts);
    } catch (err) {
      if ((err as CatapultError).code === 'CATAPULT_SLURM_CONNECTION_LOST') return this.execOnce(command, opts);
      throw err;
    }
  }

  private async execOnce(command: string, opts: ExecOptions): Promise<ExecResult> {
    const c = await this.session();
    const full = opts.cwd ? `cd ${shellQuote(opts.cwd)} && ${command}` : command;
    this.commands++;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        c.exec(full, (err, stream) => {
          if (err) {
            this.client = undefined;
            c.end();
            reject(new CatapultError('CATAPULT_SLURM_CONNECTION_LOST', `The SSH session dropped: ${err.message}.`));
            return;
          }
          const out: Buffer[] = [];
          const errs: Buffer[] = [];
          let code: number | null = null;
          timer = setTimeout(() => {
            stream.close();
            reject(new CatapultError('CATAPULT_SLURM_COMMAND_TIMEOUT', `The command did not finish within ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms on the cluster: ${command.slice(0, 200)}`));
          }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
          stream.on('data', (d: Buffer) => out.push(d));
          stream.stderr.on('data', (d: Buffer) => errs.push(d));
          stream.on('exit', (n: number | null) => (code = n));
          stream.on('close', () => {
            clearTimeout(timer);
            resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errs).toString('utf8') });
          });
          if (opts.stdin !== undefined) stream.end(opts.stdin);
          else stream.end();
        });
      } catch (err) {
        clearTimeout(timer);
        this.client = undefined;
        reject(new CatapultError('CATAPULT_SLURM_CONNECTION_LOST', `The SSH session dropped: ${(err as Error).message}.`));
      }
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= this.session().then(
      (c) =>
        new Promise<SFTPWrapper>((resolve, reject) =>
          c.sftp((err, s) => {
            if (err) {
              this.sftpSession = undefined;
              reject(new CatapultError('CATAPULT_SLURM_COMMAND_FAILED', `The login node offers no SFTP (needed to copy scripts and models): ${err.message}.`));
            } else {
              s.on('close', () => (this.sftpSession = undefined));
              resolve(s);
            }
          }),
        ),
    );
    return this.sftpSession;
  }

  /** Copies a local file to the cluster (SFTP). */
  async upload(localPath: string, remotePath: string): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((resolve, reject) => s.fastPut(localPath, remotePath, (err) => (err ? reject(err) : resolve())));
  }

  /** Writes text to a file on the cluster (SFTP). */
  async writeFile(remotePath: string, text: string, mode = 0o644): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((resolve, reject) => s.writeFile(remotePath, text, { mode }, (err) => (err ? reject(err) : resolve())));
  }

  /** Copies a file from the cluster (SFTP). */
  async download(remotePath: string, localPath: string): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((resolve, reject) => s.fastGet(remotePath, localPath, (err) => (err ? reject(err) : resolve())));
  }

  /** Reads a file from the cluster; undefined when it does not exist. */
  async readFile(remotePath: string): Promise<string | undefined> {
    const s = await this.sftp();
    return new Promise((resolve, reject) =>
      s.readFile(remotePath, (err: (Error & { code?: number }) | undefined, data: Buffer) => {
        if (err) return err.code === 2 ? resolve(undefined) : reject(err);
        resolve(data.toString('utf8'));
      }),
    );
  }

  /** Size of a file on the cluster, or undefined when missing. */
  async size(remotePath: string): Promise<number | undefined> {
    const s = await this.sftp();
    return new Promise((resolve) => s.stat(remotePath, (err, st) => resolve(err ? undefined : st.size)));
  }

  close(): void {
    this.closed = true;
    this.client?.end();
    this.client = undefined;
  }
}
