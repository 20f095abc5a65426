/// <reference types="node" />
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { type Plugin, defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Writes a .gz beside each asset, which the server sends to clients that accept gzip
 * (@fastify/static's preCompressed), so a remote browser downloads a fraction of the bytes.
 */
function precompress(): Plugin {
  return {
    name: 'catapult-precompress',
    apply: 'build',
    closeBundle() {
      const dir = join(root, 'dist', 'assets');
      for (const name of readdirSync(dir)) {
        if (!/\.(js|css|svg)$/.test(name)) continue;
        const file = join(dir, name);
        writeFileSync(`${file}.gz`, gzipSync(readFileSync(file), { level: 9 }));
      }
    },
  };
}

/**
 * The console is a static single-page app served by the control plane at `/` (src/api/console.ts).
 * Assets go under /assets/ with content hashes, which the server caches forever.
 */
export default defineConfig({
  root,
  base: '/',
  plugins: [react(), precompress()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npx vite web` for UI work against a running `catapult up`.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
