import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectModelFormat, irisPaths } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'catapult-formats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer | string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, bytes);
  return p;
}

/** A minimal zip archive (stored entries, central directory, end record) holding the named empty files. */
function zip(names: string[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, n);
    centrals.push(central, n);
    offset += 30 + n.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(names.length, 8);
  end.writeUInt16LE(names.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

function safetensors(): Buffer {
  const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, Buffer.alloc(4)]);
}

describe('model format detection', () => {
  it('recognises the demo model as ONNX from its protobuf header', async () => {
    expect(await detectModelFormat(irisPaths().model)).toMatchObject({ format: 'onnx', evidence: 'ONNX protobuf, IR version 8' });
  });

  it('reads GGUF magic, safetensors headers and PyTorch archives whatever the file is called', async () => {
    const gguf = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(16)]);
    expect(await detectModelFormat(file('llama.bin', gguf))).toMatchObject({ format: 'gguf', evidence: 'GGUF magic, version 3' });
    expect((await detectModelFormat(file('model.safetensors', safetensors()))).format).toBe('safetensors');
    expect((await detectModelFormat(file('weights.pt', zip(['archive/data.pkl', 'archive/data/0', 'archive/version'])))).format).toBe('pytorch');
    expect((await detectModelFormat(file('scripted.pt', zip(['model/data.pkl', 'model/code/__torch__/m.py', 'model/constants.pkl'])))).format).toBe(
      'torchscript',
    );
    expect(await detectModelFormat(file('old.pth', Buffer.from([0x80, 0x02, 0x8a, 0x0a])))).toMatchObject({ format: 'pytorch', evidence: expect.stringContaining('pickle') });
  });

  it('says unknown, with what it saw, for anything else', async () => {
    expect(await detectModelFormat(file('notes.txt', 'hello world, not a model'))).toMatchObject({ format: 'unknown' });
    expect((await detectModelFormat(file('fake.onnx', 'not protobuf'))).evidence).toContain('does not start like an ONNX protobuf');
  });

  it('recognises directory layouts: Hugging Face, SavedModel, Triton repository, and a folder with one model file', async () => {
    file('hf/config.json', '{}');
    file('hf/model-00001-of-00002.safetensors', safetensors());
    file('hf/model-00002-of-00002.safetensors', safetensors());
    expect(await detectModelFormat(join(dir, 'hf'))).toEqual({
      format: 'huggingface',
      path: join(dir, 'hf'),
      evidence: 'config.json with 2 safetensors weight file(s)',
      weights: 'safetensors',
    });
    file('saved/saved_model.pb', Buffer.from([8, 1]));
    mkdirSync(join(dir, 'saved/variables'), { recursive: true });
    expect((await detectModelFormat(join(dir, 'saved'))).format).toBe('tensorflow-savedmodel');
    file('repo/resnet/config.pbtxt', 'name: "resnet"');
    mkdirSync(join(dir, 'repo/resnet/1'), { recursive: true });
    expect((await detectModelFormat(join(dir, 'repo'))).format).toBe('triton-repository');
    expect(await detectModelFormat(irisPaths().dir)).toMatchObject({ format: 'onnx', path: irisPaths().model });
  });
});
