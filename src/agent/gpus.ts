import { execFile } from 'node:child_process';
import type { Gpu, GpuVendor } from '../cluster/index.js';
import { parseBytes } from '../util/index.js';

/**
 * GPU discovery: `nvidia-smi` and `rocm-smi` output parsed into one model, plus GPUs declared with
 * `--fake-gpus` for tests and demos (always marked `fake: true`).
 */

/** The fields asked of nvidia-smi, in the order its CSV prints them. */
export const NVIDIA_QUERY_FIELDS = ['index', 'uuid', 'name', 'memory.total', 'memory.used', 'utilization.gpu', 'temperature.gpu'] as const;
export const NVIDIA_SMI_ARGS = [`--query-gpu=${NVIDIA_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
export const ROCM_SMI_ARGS = ['--showid', '--showproductname', '--showuniqueid', '--showmeminfo', 'vram', '--showuse', '--showtemp', '--json'];

const MIB = 1024 * 1024;

/** A number from an nvidia-smi cell; null for `[N/A]`, `[Not Supported]` and the like. Accepts a unit suffix. */
function cellNumber(cell: string | undefined): { value: number; unit: string } | null {
  if (cell === undefined) return null;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]*)\s*$/.exec(cell);
  if (!m) return null;
  return { value: Number(m[1]), unit: (m[2] ?? '').toLowerCase() };
}

function memoryBytes(cell: string | undefined): number | null {
  const n = cellNumber(cell);
  if (!n) return null;
  // With `nounits` nvidia-smi prints MiB; with units it says so.
  const factor = n.unit === '' || n.unit === 'mib' ? MIB : n.unit === 'gib' ? 1024 * MIB : n.unit === 'kib' ? 1024 : n.unit === 'b' ? 1 : MIB;
  return Math.round(n.value * factor);
}

/**
 * Parses `nvidia-smi --query-gpu=<fields> --format=csv[,noheader][,nounits]`. `fields` names the
 * columns in order; a header line, if present, is skipped. A name containing commas (nvidia-smi
 * does not quote) takes the surplus columns.
 */
export function parseNvidiaSmiCsv(text: string, fields: readonly string[] = NVIDIA_QUERY_FIELDS): Gpu[] {
  const nameAt = fields.indexOf('name');
  const gpus: Gpu[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || /^index\b/i.test(line)) continue;
    let cells = line.split(',').map((c) => c.trim());
    if (cells.length > fields.length && nameAt >= 0) {
      const extra = cells.length - fields.length;
      cells = [...cells.slice(0, nameAt), cells.slice(nameAt, nameAt + extra + 1).join(', '), ...cells.slice(nameAt + extra + 1)];
    }
    if (cells.length < fields.length) continue;
    const get = (f: string) => {
      const i = fields.indexOf(f);
      return i < 0 ? undefined : cells[i];
    };
    const index = cellNumber(get('index'));
    const total = memoryBytes(get('memory.total'));
    if (!index || total === null) continue;
    const used = memoryBytes(get('memory.used'));
    gpus.push({
      vendor: 'nvidia',
      index: index.value,
      name: get('name') ?? `NVIDIA GPU ${index.value}`,
      uuid: get('uuid') ?? `nvidia-${index.value}`,
      memoryTotalBytes: total,
      memoryUsedBytes: used ?? 0,
      utilizationPercent: cellNumber(get('utilization.gpu'))?.value ?? null,
      temperatureC: cellNumber(get('temperature.gpu'))?.value ?? null,
      fake: false,
    });
  }
  return gpus;
}

/** A value from rocm-smi JSON: strings, numbers, or a one-element array, by any spelling of its key. */
function rocmValue(card: Record<string, unknown>, ...keys: string[]): string | undefined {
  const lower = new Map(Object.entries(card).map(([k, v]) => [k.toLowerCase(), v]));
  for (const key of keys) {
    let v = lower.get(key.toLowerCase());
    if (Array.isArray(v)) v = v[0];
    if (typeof v === 'number') return String(v);
    if (typeof v === 'string' && v.trim() !== '' && !/^n\/?a$/i.test(v.trim())) return v.trim();
  }
  return undefined;
}

function rocmNumber(card: Record<string, unknown>, ...keys: string[]): number | null {
  const v = rocmValue(card, ...keys);
  if (v === undefined) return null;
  const n = Number.parseFloat(v);
  return Number.isFinite(n) ? n : null;
}

/**
 * Parses `rocm-smi ... --json`. Cards are keys `card0`, `card1` (or `card:0`); other keys such as
 * `system` are not GPUs. Key spellings changed across ROCm releases, so several are accepted.
 */
export function parseRocmSmiJson(text: string): Gpu[] {
  const data: unknown = JSON.parse(text);
  if (typeof data !== 'object' || data === null) return [];
  const gpus: Gpu[] = [];
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    const m = /^card:?(\d+)$/i.exec(key);
    if (!m || typeof value !== 'object' || value === null) continue;
    const card = value as Record<string, unknown>;
    const total = rocmNumber(card, 'VRAM Total Memory (B)');
    if (total === null) continue;
    const index = Number(m[1]);
    // Product names sometimes come back as bare PCI ids (0x74a1); prefer a readable one.
    const names = ['Card Series', 'Device Name', 'Card SKU', 'Card Model'].map((k) => rocmValue(card, k)).filter((v): v is string => !!v);
    const name = names.find((n) => !/^0x[0-9a-f]+$/i.test(n)) ?? names[0] ?? `AMD GPU ${index}`;
    const uuid = rocmValue(card, 'Unique ID', 'GUID') ?? `amd-card${index}`;
    gpus.push({
      vendor: 'amd',
      index,
      name: /^amd\b/i.test(name) ? name : `AMD ${name}`,
      uuid,
      memoryTotalBytes: Math.round(total),
      memoryUsedBytes: Math.round(rocmNumber(card, 'VRAM Total Used Memory (B)') ?? 0),
      utilizationPercent: rocmNumber(card, 'GPU use (%)'),
      temperatureC: rocmNumber(card, 'Temperature (Sensor edge) (C)', 'Temperature (Sensor junction) (C)', 'Temperature (Sensor memory) (C)'),
      fake: false,
    });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

export interface FakeGpuSpec {
  vendor: GpuVendor;
  type: string;
  memoryBytes: number;
}

/** AMD product prefixes; anything else declared fake is taken as NVIDIA unless prefixed `amd/`. */
const AMD_TYPES = /^(mi\d|instinct|radeon|rx\s?\d|w\d{4}|v\d{3})/i;

/**
 * Parses `--fake-gpus`: comma-separated `[N x]TYPE:MEMORY`, e.g. `2xH100:80GiB,1xamd/MI300X:192GiB`.
 * Throws with a message that shows the expected form.
 */
export function parseFakeGpus(spec: string): FakeGpuSpec[] {
  const out: FakeGpuSpec[] = [];
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(?:(\d+)\s*[x×]\s*)?(?:(nvidia|amd)\/)?([A-Za-z0-9][A-Za-z0-9 ._-]*?)\s*:\s*(\S+)$/i.exec(part);
    const bytes = m ? parseBytes(m[4]!) : undefined;
    if (!m || bytes === undefined || bytes <= 0) {
      throw new Error(`--fake-gpus: cannot read '${part}'; expected [COUNTx]TYPE:MEMORY, e.g. 2xH100:80GiB or 1xamd/MI300X:192GiB`);
    }
    const count = m[1] ? Number(m[1]) : 1;
    if (count < 1 || count > 64) throw new Error(`--fake-gpus: '${part}' asks for ${count} GPUs; 1 to 64 per entry`);
    const type = m[3]!;
    const vendor = (m[2]?.toLowerCase() as GpuVendor | undefined) ?? (AMD_TYPES.test(type) ? 'amd' : 'nvidia');
    for (let i = 0; i < count; i++) out.push({ vendor, type, memoryBytes: bytes });
  }
  if (out.length === 0) throw new Error('--fake-gpus: no GPUs declared; expected e.g. 2xH100:80GiB');
  return out;
}

/** What runs on a GPU, for fake GPUs to show memory in use. */
export type GpuUsage = (vendor: GpuVendor, index: number) => { memoryBytes: number; replicas: number };

/** Turns fake specs into GPUs, numbered per vendor, with usage from the replicas running on them. */
export function fakeGpus(specs: readonly FakeGpuSpec[], usage?: GpuUsage): Gpu[] {
  const next: Record<GpuVendor, number> = { nvidia: 0, amd: 0 };
  return specs.map((s) => {
    const index = next[s.vendor]++;
    const u = usage?.(s.vendor, index) ?? { memoryBytes: 0, replicas: 0 };
    const utilization = Math.min(100, u.replicas * 40);
    return {
      vendor: s.vendor,
      index,
      name: `${s.vendor === 'amd' ? 'AMD' : 'NVIDIA'} ${s.type}`,
      uuid: `fake-${s.vendor}-${index}`,
      memoryTotalBytes: s.memoryBytes,
      memoryUsedBytes: Math.min(s.memoryBytes, u.memoryBytes),
      utilizationPercent: utilization,
      temperatureC: 30 + Math.round(utilization / 4),
      fake: true,
    };
  });
}

/** Runs a command and returns its stdout; rejects with `code: 'ENOENT'` when it is not installed. */
export type CommandRunner = (command: string, args: readonly string[], timeoutMs: number) => Promise<string>;

export const execRunner: CommandRunner = (command, args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(command, [...args], { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (err, stdout) => {
      if (err) {
        const error: Error = err;
        reject(error);
      } else {
        resolve(stdout);
      }
    });
  });

/** Finds the GPUs of this machine now (names, memory, usage). */
export interface GpuProbe {
  detect(): Promise<Gpu[]>;
}

/** Declared GPUs; usage follows the replicas the agent runs. */
export class FakeGpuProbe implements GpuProbe {
  private usage: GpuUsage | undefined;

  constructor(private readonly specs: readonly FakeGpuSpec[]) {}

  /** Where usage comes from (the agent sets it to its executor's replicas). */
  setUsage(usage: GpuUsage): void {
    this.usage = usage;
  }

  detect(): Promise<Gpu[]> {
    return Promise.resolve(fakeGpus(this.specs, this.usage));
  }
}

interface Tool {
  command: string;
  args: readonly string[];
  parse: (out: string) => Gpu[];
  /** When it was found missing; retried after a while (drivers get installed). */
  missingSince?: number;
  /** The last good answer, reported again while the tool fails, so a driver hiccup does not make GPUs vanish. */
  last: Gpu[];
}

const MISSING_RETRY_MS = 5 * 60_000;

/**
 * Asks nvidia-smi and rocm-smi. A tool that is not installed is skipped and asked again after five
 * minutes; a tool that fails repeats its last good answer.
 */
export class SystemGpuProbe implements GpuProbe {
  private readonly tools: Tool[];
  private readonly warned = new Set<string>();

  constructor(
    private readonly run: CommandRunner = execRunner,
    private readonly onError: (tool: string, err: unknown) => void = () => undefined,
    private readonly timeoutMs = 10_000,
  ) {
    this.tools = [
      { command: 'nvidia-smi', args: NVIDIA_SMI_ARGS, parse: (out) => parseNvidiaSmiCsv(out), last: [] },
      { command: 'rocm-smi', args: ROCM_SMI_ARGS, parse: parseRocmSmiJson, last: [] },
    ];
  }

  async detect(): Promise<Gpu[]> {
    const all: Gpu[] = [];
    for (const tool of this.tools) {
      if (tool.missingSince !== undefined && Date.now() - tool.missingSince < MISSING_RETRY_MS) continue;
      try {
        tool.last = tool.parse(await this.run(tool.command, tool.args, this.timeoutMs));
        tool.missingSince = undefined;
        all.push(...tool.last);
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ENOENT') {
          tool.missingSince = Date.now();
          tool.last = [];
          continue;
        }
        all.push(...tool.last);
        // A driver hiccup should not stop heartbeats; say so once per tool.
        if (!this.warned.has(tool.command)) {
          this.warned.add(tool.command);
          this.onError(tool.command, err);
        }
      }
    }
    return all;
  }
}
