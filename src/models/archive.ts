import yauzl from 'yauzl';

/** One member of a zip archive, as its central directory lists it. */
export interface ZipMember {
  /** The raw name, undecoded and unvalidated, so a hostile name can be reported as it is. */
  name: string;
  compressedSize: number;
  size: number;
  compressed: boolean;
  entry: yauzl.Entry;
}

export interface ZipArchive {
  members: ZipMember[];
  /** Reads the first `max` bytes of a member (the whole member when smaller). */
  head(member: ZipMember, max: number): Promise<Buffer>;
  close(): void;
}

/** Opens a zip archive by its central directory; nothing is extracted and member names are not trusted. */
export async function openZip(path: string): Promise<ZipArchive> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  const members: ZipMember[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      const raw = entry.fileName as unknown as Buffer;
      members.push({
        name: Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw),
        compressedSize: entry.compressedSize,
        size: entry.uncompressedSize,
        compressed: entry.compressionMethod !== 0,
        entry,
      });
      zip.readEntry();
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  return {
    members,
    head: (member, max) =>
      new Promise<Buffer>((resolve, reject) => {
        zip.openReadStream(member.entry, (err, stream) => {
          if (err || !stream) return reject(err ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          let got = 0;
          let settled = false;
          const finish = () => {
            if (settled) return;
            settled = true;
            resolve(Buffer.concat(chunks).subarray(0, max));
          };
          stream.on('data', (c: Buffer) => {
            chunks.push(c);
            got += c.length;
            if (got >= max) {
              stream.destroy();
              finish();
            }
          });
          stream.on('end', finish);
          stream.on('error', (e) => {
            if (!settled) {
              settled = true;
              reject(e);
            }
          });
        });
      }),
    close: () => zip.close(),
  };
}

/** True when a member name would land outside the folder it is extracted into. */
export function escapesFolder(name: string): boolean {
  if (name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) return true;
  return name.split(/[\\/]/).includes('..');
}
