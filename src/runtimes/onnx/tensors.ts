/**
 * JSON tensors of the Open Inference Protocol (KServe v2) to and from onnxruntime-node tensor data.
 * Decoding validates every element, because a wrong type must become a 400 naming the input, never a
 * silent NaN or a crash inside the runtime.
 */

export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type OipDatatype = (typeof OIP_DATATYPES)[number];

/** onnxruntime-node tensor type names (a subset of `Tensor.Type`). */
export type OrtType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

export const OIP_TO_ORT: Record<OipDatatype, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

export const ORT_TO_OIP: Record<OrtType, OipDatatype> = Object.fromEntries(
  Object.entries(OIP_TO_ORT).map(([oip, ort]) => [ort, oip]),
) as Record<OrtType, OipDatatype>;

export function isOipDatatype(v: unknown): v is OipDatatype {
  return typeof v === 'string' && (OIP_DATATYPES as readonly string[]).includes(v);
}

export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array
  | string[];

/** A request the server rejects with 400 (or another status) and an OIP `{ "error": … }` body. */
export class InferError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'InferError';
  }
}

const INT_RANGES: Partial<Record<OipDatatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
};

const INT64_RANGE: [bigint, bigint] = [-(2n ** 63n), 2n ** 63n - 1n];
const UINT64_RANGE: [bigint, bigint] = [0n, 2n ** 64n - 1n];

/** Flattens OIP data, which may be sent flat (row-major) or nested by dimension. */
function flatten(data: unknown[]): unknown[] {
  return data.length > 0 && Array.isArray(data[0]) ? data.flat<unknown[], 20>(20) : data;
}

function describe(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/**
 * Converts the `data` of one OIP input into typed tensor data, checking the element count against the
 * shape and every element against the datatype.
 */
export function decodeTensorData(input: string, datatype: OipDatatype, shape: readonly number[], raw: unknown): TensorData {
  if (!Array.isArray(raw)) throw new InferError(`input '${input}': data must be an array`);
  const data = flatten(raw);
  const expected = shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new InferError(
      `input '${input}': shape [${shape.join(',')}] holds ${expected} element(s), but data has ${data.length}`,
    );
  }
  const n = data.length;
  const bad = (i: number, what: string): never => {
    throw new InferError(`input '${input}': element ${i} is ${describe(data[i])}, not ${what} (datatype ${datatype})`);
  };

  switch (datatype) {
    case 'FP32':
    case 'FP64': {
      const out = datatype === 'FP32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v !== 'number') bad(i, 'a number');
        out[i] = v as number;
      }
      return out;
    }
    case 'FP16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v !== 'number') bad(i, 'a number');
        out[i] = float32ToFloat16Bits(v as number);
      }
      return out;
    }
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (v === true || v === 1) out[i] = 1;
        else if (v !== false && v !== 0) bad(i, 'true or false');
      }
      return out;
    }
    case 'BYTES': {
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v !== 'string') bad(i, 'a string');
        out[i] = v as string;
      }
      return out;
    }
    case 'INT64':
    case 'UINT64': {
      const [lo, hi] = datatype === 'INT64' ? INT64_RANGE : UINT64_RANGE;
      const out = datatype === 'INT64' ? new BigInt64Array(n) : new BigUint64Array(n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        let b: bigint;
        if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
        // Strings of digits carry integers beyond 2^53 exactly, which JSON numbers cannot.
        else if (typeof v === 'string' && /^-?\d+$/.test(v)) b = BigInt(v);
        else return bad(i, 'an integer');
        if (b < lo || b > hi) bad(i, `an integer in [${lo}, ${hi}]`);
        out[i] = b;
      }
      return out;
    }
    default: {
      const range = INT_RANGES[datatype];
      if (!range) throw new InferError(`input '${input}': datatype ${String(datatype)} is not supported`);
      const [lo, hi] = range;
      const out = newIntArray(datatype, n);
      for (let i = 0; i < n; i++) {
        const v = data[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(i, `an integer in [${lo}, ${hi}]`);
        out[i] = v as number;
      }
      return out;
    }
  }
}

function newIntArray(datatype: OipDatatype, n: number): Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array {
  switch (datatype) {
    case 'UINT8':
      return new Uint8Array(n);
    case 'UINT16':
      return new Uint16Array(n);
    case 'UINT32':
      return new Uint32Array(n);
    case 'INT8':
      return new Int8Array(n);
    case 'INT16':
      return new Int16Array(n);
    default:
      return new Int32Array(n);
  }
}

/**
 * The JSON text of a tensor's elements, without the brackets. Typed arrays are joined directly: integers
 * (64-bit ones too) print exactly, floats print as the shortest text that reads back to the same value.
 */
export function encodeTensorData(type: OrtType, data: unknown): string {
  switch (type) {
    case 'string':
      return (data as string[]).map((s) => JSON.stringify(s)).join(',');
    case 'bool': {
      const d = data as Uint8Array;
      let s = '';
      for (let i = 0; i < d.length; i++) s += i === 0 ? (d[i] ? 'true' : 'false') : d[i] ? ',true' : ',false';
      return s;
    }
    case 'float16': {
      const d = data as Uint16Array;
      const f = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) f[i] = float16BitsToNumber(d[i]!);
      return floatsToJson(f);
    }
    case 'float32':
    case 'float64':
      return floatsToJson(data as Float32Array | Float64Array);
    default:
      return (data as { join(sep: string): string }).join(',');
  }
}

/** JSON has no NaN or Infinity; they are written as null, the usual JSON rendering. */
function floatsToJson(f: Float32Array | Float64Array): string {
  const s = f.join(',');
  if (!/[NI]/.test(s)) return s;
  return Array.from(f, (v) => (Number.isFinite(v) ? String(v) : 'null')).join(',');
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 half-precision bits of a number, rounded to nearest even (Node 20 has no Float16Array). */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  e = half >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : half);
}

export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
