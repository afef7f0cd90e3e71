/**
 * The Express test app of the HTTP scenario suite: the routes listed in
 * `http-harness.ts`, built with `stepUpRouter` and `requireStepUp`.
 */
import { createServer } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { requireStepUp, stepUpRouter } from '../../src/express/index.js';
import {
  ACR_WHATSAPP,
  closeServer,
  createHarnessCore,
  guardSubject,
  listen,
  paymentTransaction,
  resolveTestSubject,
  type HarnessOptions,
  type HttpHarness,
} from './http-harness.js';

export async function buildExpressApp(options: HarnessOptions): Promise<HttpHarness> {
  const core = await createHarnessCore(options);
  const { stepup, report } = core;
  const user = (req: Request) => req.get('x-test-user');
  const subject = (req: Request) => guardSubject(user(req));
  const session = (req: Request) => req.get('x-test-session');
  const ok = (req: Request, res: Response) => {
    res.json({ ok: true, stepUp: req.stepUp });
  };

  const app = express();
  if (options.appParsers) app.use(express.json(), express.urlencoded({ extended: false }), express.text());
  app.use('/stepup', stepUpRouter(stepup, { resolveSubject: (req) => resolveTestSubject(user(req)), binding: session, webhooks: core.webhooks, onError: report }));
  app.post(
    '/payments',
    express.json(),
    requireStepUp(stepup, {
      purpose: 'payment',
      maxAge: '5m',
      subject,
      binding: session,
      transaction: (req) => paymentTransaction(req.body),
      oneTime: true,
      onError: report,
    }),
    ok,
  );
  app.get(
    '/account/secure',
    requireStepUp(stepup, { purpose: 'login', maxAge: '5m', acrValues: [ACR_WHATSAPP], subject, binding: session, onError: report }),
    ok,
  );
  app.get('/account/profile', requireStepUp(stepup, { purpose: 'login', maxAge: '5m', subject, binding: session, onError: report }), ok);
  app.post('/password-reset', requireStepUp(stepup, { purpose: 'password-reset', subject: 'from-token', onError: report }), ok);
  app.get(
    '/cookie/secure',
    requireStepUp(stepup, {
      purpose: 'login',
      maxAge: '5m',
      token: { cookie: 'stepup' },
      scheme: 'StepUp',
      challengeEndpoint: '/stepup/challenges',
      subject,
      binding: session,
      onError: report,
    }),
    ok,
  );
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    report(error);
    res.status(500).json({ error: { code: 'app_error', message: 'The test app failed.' } });
  });

  const server = createServer(app);
  await listen(server);
  return {
    ...core,
    server,
    constructGuard: (guardOptions) => {
      requireStepUp(stepup, guardOptions as unknown as Parameters<typeof requireStepUp>[1]);
    },
    close: async () => {
      await closeServer(server);
      await core.dispose();
    },
  };
}
