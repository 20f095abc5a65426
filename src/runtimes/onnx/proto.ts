/**
 * A small writer for the ONNX protobuf format (onnx.proto, IR version 8), enough to build real models
 * from plain TypeScript: graphs of standard operators with initializers, typed inputs and outputs.
 * No protobuf library is needed: the wire format is a handful of varints and length-prefixed fields.
 */

/** ONNX TensorProto.DataType values. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;
export type OnnxDataType = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** A dimension: a fixed size, or a name for a size chosen at run time (shown as -1 in metadata). */
export type OnnxDim = number | string;

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxDataType;
  shape: OnnxDim[];
}

export interface OnnxTensor {
  name: string;
  dataType: OnnxDataType;
  dims: number[];
  /** Little-endian bytes of the elements (raw_data), for every type but STRING. */
  raw?: Uint8Array;
  /** Elements of a STRING tensor. */
  strings?: string[];
}

export type OnnxAttributeValue = number | bigint | string | number[] | OnnxTensor | { ints: number[] } | { floats: number[] };

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  /** Integers become INT attributes, non-integers FLOAT, strings STRING, arrays INTS (use `{ floats }` for FLOATS). */
  attributes?: Record<string, OnnxAttributeValue>;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers?: OnnxTensor[];
  docString?: string;
}

export interface OnnxModel {
  graph: OnnxGraph;
  /** Default opset of the standard domain. */
  opset?: number;
  producerName?: string;
  producerVersion?: string;
  modelVersion?: number;
  docString?: string;
  metadata?: Record<string, string>;
}

const IR_VERSION = 8;
const DEFAULT_OPSET = 17;

/** Accumulates protobuf fields; nested messages are encoded first and written as length-delimited bytes. */
class Writer {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varint(value: bigint): void {
    // Negative int64 values take ten bytes in two's complement, as protobuf requires.
    let v = BigInt.asUintN(64, value);
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

function writeTensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  if (t.dataType === OnnxDataType.STRING) {
    const enc = new TextEncoder();
    for (const s of t.strings ?? []) w.bytes(6, enc.encode(s));
  }
  w.string(8, t.name);
  if (t.dataType !== OnnxDataType.STRING) w.bytes(9, t.raw ?? new Uint8Array(0));
}

function writeValueInfo(w: Writer, v: OnnxValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.elemType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => {
            if (typeof d === 'number') dim.int(1, d);
            else dim.string(2, d);
          });
        }
      });
    }),
  );
}

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

function writeAttribute(w: Writer, name: string, value: OnnxAttributeValue): void {
  w.string(1, name);
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) {
    w.int(3, value).int(20, AttributeType.INT);
  } else if (typeof value === 'number') {
    w.float(2, value).int(20, AttributeType.FLOAT);
  } else if (typeof value === 'string') {
    w.string(4, value).int(20, AttributeType.STRING);
  } else if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, AttributeType.INTS);
  } else if ('ints' in value) {
    for (const v of value.ints) w.int(8, v);
    w.int(20, AttributeType.INTS);
  } else if ('floats' in value) {
    for (const v of value.floats) w.float(7, v);
    w.int(20, AttributeType.FLOATS);
  } else {
    w.message(5, (t) => writeTensor(t, value)).int(20, AttributeType.TENSOR);
  }
}

function writeNode(w: Writer, n: OnnxNode, index: number): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name ?? `${n.opType}_${index}`);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, (a) => writeAttribute(a, k, v));
  if (n.domain) w.string(7, n.domain);
}

/** Serialises a model to the bytes of an `.onnx` file. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, IR_VERSION);
  if (model.producerName) w.string(2, model.producerName);
  if (model.producerVersion) w.string(3, model.producerVersion);
  if (model.modelVersion !== undefined) w.int(5, model.modelVersion);
  if (model.docString) w.string(6, model.docString);
  const g = model.graph;
  w.message(7, (gw) => {
    g.nodes.forEach((n, i) => gw.message(1, (nw) => writeNode(nw, n, i)));
    gw.string(2, g.name);
    for (const t of g.initializers ?? []) gw.message(5, (tw) => writeTensor(tw, t));
    if (g.docString) gw.string(10, g.docString);
    for (const v of g.inputs) gw.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of g.outputs) gw.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (ow) => ow.string(1, '').int(2, model.opset ?? DEFAULT_OPSET));
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.message(14, (mw) => mw.string(1, key).string(2, value));
  }
  return w.finish();
}

/** A FLOAT initializer from numbers (rounded to float32). */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTensor {
  const data = Float32Array.from(values);
  return { name, dataType: OnnxDataType.FLOAT, dims, raw: littleEndianBytes(data) };
}

/** An INT64 initializer. */
export function int64Tensor(name: string, dims: number[], values: ArrayLike<number | bigint>): OnnxTensor {
  const data = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
  return { name, dataType: OnnxDataType.INT64, dims, raw: littleEndianBytes(data) };
}

function littleEndianBytes(view: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(view.byteLength);
  const dv = new DataView(out.buffer);
  if (view instanceof Float32Array) view.forEach((v, i) => dv.setFloat32(i * 4, v, true));
  else view.forEach((v, i) => dv.setBigInt64(i * 8, v, true));
  return out;
}
