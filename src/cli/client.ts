import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/index.js';

/** An API error as the CLI shows it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly errors?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

/** Thin HTTP client over the control-plane API for CLI commands. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly key: string,
  ) {}

  static fromConfig(config: Config): ApiClient {
    let key = config.apiKey;
    const keyFile = join(config.dataDir, 'admin.key');
    if (!key && existsSync(keyFile)) key = readFileSync(keyFile, 'utf8').trim();
    if (!key) {
      throw new Error(`No API key: set CATAPULT_API_KEY, or run where ${keyFile} exists (catapult up writes it).`);
    }
    return new ApiClient(config.url.replace(/\/$/, ''), key);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const text = await this.exchange(method, path, body);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A GET whose answer is text (downloads: CSV, JSONL). */
  text(path: string): Promise<string> {
    return this.exchange('GET', path);
  }

  /** Sends a request and returns the answer's text; an error answer becomes an ApiError. */
  private async exchange(method: string, path: string, body?: unknown): Promise<string> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.key}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new Error(`Cannot reach the Catapult API at ${this.baseUrl} (${cause}). Is it running? Set CATAPULT_URL to point elsewhere.`);
    }
    const text = await res.text();
    if (!res.ok) {
      let p: { code?: string; detail?: string; hint?: string; errors?: { path: string; message: string }[] } = {};
      try {
        p = JSON.parse(text) as typeof p;
      } catch {
        // not a problem document
      }
      throw new ApiError(res.status, p.code ?? `HTTP_${res.status}`, p.detail ?? res.statusText, p.hint, p.errors);
    }
    return text;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}
