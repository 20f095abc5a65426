import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError, ControlPlaneClient } from '../client/index.js';
import type { Config } from '../config/index.js';

export { ApiError };

/** The control-plane client as CLI commands use it: the admin key from config or the data dir. */
export class ApiClient {
  private readonly http: ControlPlaneClient;

  constructor(baseUrl: string, key: string) {
    this.http = new ControlPlaneClient({
      baseUrl,
      bearer: key,
      unreachable: (url, cause) => `Cannot reach the Catapult API at ${url} (${cause}). Is it running? Set CATAPULT_URL to point elsewhere.`,
    });
  }

  get baseUrl(): string {
    return this.http.baseUrl;
  }

  static fromConfig(config: Config): ApiClient {
    let key = config.apiKey;
    const keyFile = join(config.dataDir, 'admin.key');
    if (!key && existsSync(keyFile)) key = readFileSync(keyFile, 'utf8').trim();
    if (!key) {
      throw new Error(`No API key: set CATAPULT_API_KEY, or run where ${keyFile} exists (catapult up writes it).`);
    }
    return new ApiClient(config.url, key);
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.http.json<T>(method, path, body);
  }

  /** A GET whose answer is text (downloads: CSV, JSONL). */
  text(path: string): Promise<string> {
    return this.http.text('GET', path);
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
