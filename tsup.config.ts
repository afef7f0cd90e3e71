import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'express/index': 'src/express/index.ts',
    'koa/index': 'src/koa/index.ts',
    'passport/index': 'src/passport/index.ts',
    'testing/index': 'src/testing/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: false,
  // Frameworks are optional peers: never bundle them into our output.
  external: ['express', 'koa', 'passport', 'passport-custom', 'ioredis', 'jsonwebtoken', 'libphonenumber-js'],
});
