import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CommandRunner, SystemGpuProbe, fakeGpus, parseFakeGpus, parseNvidiaSmiCsv, parseRocmSmiJson } from './index.js';

const fixture = (p: string) => readFileSync(new URL(`../../test/fixtures/gpu/${p}`, import.meta.url), 'utf8');
const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('GPU discovery', () => {
  it('reads a real H100 from nvidia-smi CSV with the fields in the order they were asked', () => {
    // query-gpu.csv was captured with a longer field list; the parser follows whatever list produced it.
    const fields = [
      'index',
      'uuid',
      'name',
      'memory.total',
      'memory.used',
      'memory.free',
      'utilization.gpu',
      'temperature.gpu',
      'power.draw',
      'power.limit',
      'driver_version',
      'pci.bus_id',
      'compute_cap',
    ];
    expect(parseNvidiaSmiCsv(fixture('nvidia-h100/query-gpu.csv'), fields)).toEqual([
      {
        vendor: 'nvidia',
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-723cc981-95ba-99df-db5a-357797cdea70',
        memoryTotalBytes: 81559 * MiB,
        memoryUsedBytes: 0,
        utilizationPercent: 0,
        temperatureC: 35,
        fake: false,
      },
    ]);
  });

  it('reads a real H200: one GPU of 150754820096 bytes', () => {
    for (const file of ['nvidia-h200/query-gpu.csv', 'nvidia-h200/query-gpu-header.csv']) {
      expect(parseNvidiaSmiCsv(fixture(file))).toEqual([
        expect.objectContaining({ vendor: 'nvidia', index: 0, name: 'NVIDIA H200', uuid: 'GPU-51873551-a40f-3cd1-a0bc-751926cd60be', memoryTotalBytes: 150_754_820_096, memoryUsedBytes: 0, fake: false }),
      ]);
    }
  });

  it('reads the same GPU from output with a header and units', () => {
    const [gpu] = parseNvidiaSmiCsv(fixture('nvidia-h100/query-gpu-header.csv'));
    expect(gpu).toMatchObject({ index: 0, name: 'NVIDIA H100 80GB HBM3', memoryTotalBytes: 81559 * MiB, memoryUsedBytes: 0, utilizationPercent: 0, temperatureC: 35 });
  });

  it('copes with several GPUs, [N/A] readings and a name containing a comma', () => {
    const text = [
      '0, GPU-aaa, NVIDIA A100-SXM4-40GB, 40960, 1024, 87, 61',
      '1, GPU-bbb, NVIDIA A100-SXM4-40GB, 40960, [N/A], [Not Supported], [N/A]',
      '2, GPU-ccc, Some, Odd Name, 16384, 0, 5, 40',
      '',
    ].join('\n');
    const gpus = parseNvidiaSmiCsv(text);
    expect(gpus.map((g) => [g.index, g.name, g.memoryUsedBytes / MiB, g.utilizationPercent, g.temperatureC])).toEqual([
      [0, 'NVIDIA A100-SXM4-40GB', 1024, 87, 61],
      [1, 'NVIDIA A100-SXM4-40GB', 0, null, null],
      [2, 'Some, Odd Name', 0, 5, 40],
    ]);
  });

  it('reads AMD GPUs from rocm-smi JSON of both key vintages (hand-written fixtures, see their README)', () => {
    const mi210 = parseRocmSmiJson(fixture('amd/rocm5-mi210x2.json'));
    expect(mi210).toEqual([
      {
        vendor: 'amd',
        index: 0,
        name: 'AMD Instinct MI210',
        uuid: '0x3d4b5c8a21e6f09b',
        memoryTotalBytes: 68702699520,
        memoryUsedBytes: 10960896,
        utilizationPercent: 0,
        temperatureC: 34,
        fake: false,
      },
      expect.objectContaining({ index: 1, utilizationPercent: 87, memoryUsedBytes: 32 * GiB, temperatureC: 52 }),
    ]);
    const mi300 = parseRocmSmiJson(fixture('amd/rocm6-mi300x.json'));
    expect(mi300.map((g) => [g.index, g.name, g.uuid, g.temperatureC, g.utilizationPercent])).toEqual([
      // No edge sensor on MI300X (N/A): the junction temperature is used.
      [0, 'AMD Instinct MI300X', '0x9a2b1c3d4e5f6071', 41, 3],
      [1, 'AMD Instinct MI300X', '0x1c2d3e4f5a6b7c8d', 44, 100],
    ]);
    expect(mi300[1]!.memoryUsedBytes).toBe(160 * GiB);
  });

  it('declares fake GPUs from a short spec, numbered per vendor and always marked fake', () => {
    const specs = parseFakeGpus('2xH100:80GiB, 1xMI300X:192GiB');
    const gpus = fakeGpus(specs, (vendor, index) => (vendor === 'nvidia' && index === 1 ? { memoryBytes: 16 * GiB, replicas: 1 } : { memoryBytes: 0, replicas: 0 }));
    expect(gpus.map((g) => [g.vendor, g.index, g.name, g.memoryTotalBytes / GiB, g.memoryUsedBytes / GiB, g.fake])).toEqual([
      ['nvidia', 0, 'NVIDIA H100', 80, 0, true],
      ['nvidia', 1, 'NVIDIA H100', 80, 16, true],
      ['amd', 0, 'AMD MI300X', 192, 0, true],
    ]);
    expect(parseFakeGpus('amd/W7900:48GiB')[0]).toEqual({ vendor: 'amd', type: 'W7900', memoryBytes: 48 * GiB });
    expect(() => parseFakeGpus('2xH100')).toThrow(/expected \[COUNTx\]TYPE:MEMORY/);
    expect(() => parseFakeGpus('0xH100:80GiB')).toThrow(/1 to 64/);
    expect(() => parseFakeGpus('H100:lots')).toThrow(/cannot read/);
  });

  it('asks both tools, skips one that is not installed, and repeats the last answer when a query fails', async () => {
    const calls: string[] = [];
    let nvidiaFails = false;
    const run: CommandRunner = (command) => {
      calls.push(command);
      if (command === 'rocm-smi') return Promise.reject(Object.assign(new Error('spawn rocm-smi ENOENT'), { code: 'ENOENT' }));
      if (nvidiaFails) return Promise.reject(new Error('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver'));
      return Promise.resolve('0, GPU-x, NVIDIA H100 80GB HBM3, 81559, 100, 3, 40\n');
    };
    const errors: string[] = [];
    const probe = new SystemGpuProbe(run, (tool) => errors.push(tool));
    expect(await probe.detect()).toHaveLength(1);
    nvidiaFails = true;
    expect((await probe.detect())[0]!.uuid).toBe('GPU-x');
    expect(errors).toEqual(['nvidia-smi']);
    // rocm-smi was looked for once, not on every heartbeat.
    expect(calls.filter((c) => c === 'rocm-smi')).toHaveLength(1);
  });
});
