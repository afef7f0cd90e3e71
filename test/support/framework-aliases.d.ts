// Express 4 and Koa 2, installed under npm aliases for the HTTP suite on the other major
// (test/http.express4.test.ts, test/http.koa2.test.ts): typed as the modules they stand in for.
declare module 'express4' {
  export { default } from 'express';
}
declare module 'koa2' {
  export { default } from 'koa';
}
