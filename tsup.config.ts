import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'express/index': 'src/express/index.ts',
    'koa/index': 'src/koa/index.ts',
    'passport/index': 'src/passport/index.ts',
    'testing/index': 'src/testing/index.ts',
    'store/index': 'src/store/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  // No source maps: the output is unminified, one commented section per source file, so a
  // stack trace reads as it is; maps (even without sourcesContent) would add about 60 kB
  // packed for paths into a src/ that the package does not ship.
  sourcemap: false,
  target: 'node20',
  // One copy of each module per format: the entries share chunks, so module state (the
  // random pool, StepUpError) exists once per format and `instanceof` holds across entries.
  // Shared chunks rather than an unbundled build: an unbundled CommonJS build would need the
  // sources' `.js` specifiers rewritten to `.cjs` (or a dist/cjs tree with its own
  // package.json), and per-file declarations for both formats; tsup does chunks for both
  // formats and for the declarations. tsup calls cjs splitting experimental: test/pack.test.ts
  // loads every entry from both formats and counts StepUpError's definitions.
  splitting: true,
  // Frameworks are optional peers: never bundle them into our output.
  external: ['express', 'koa', 'passport', 'passport-custom', 'ioredis', 'jsonwebtoken', 'libphonenumber-js'],
});
