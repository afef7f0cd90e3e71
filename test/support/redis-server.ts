import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// Kept free of any `vitest` import: this module also runs in vitest's main
// process (globalSetup), where the test-runner API is not available.

export interface RedisHandle {
  port: number;
  url: string;
  /** Graceful shutdown (SIGTERM), escalating to SIGKILL if it lingers. */
  stop(): Promise<void>;
  /** Simulates a crash: SIGKILL, no chance to close client sockets cleanly. */
  kill(): Promise<void>;
}

export interface StartRedisOptions {
  args?: string[];
  /** Listen on this port instead of a free one: to restart a server where its clients expect it. */
  port?: number;
}

export const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;
const MAX_PORT_ATTEMPTS = 5;
const NOT_INSTALLED =
  'redis-server is not installed: install it (Debian/Ubuntu: sudo apt-get install redis-server; ' +
  'macOS: brew install redis) and run npm test again.';

// Running servers, each with the watchdog that guards it.
const live = new Map<ChildProcess, ChildProcess | undefined>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; SIGKILL is the only thing we can still
  // do there, and it is what stops a crashed run from leaving orphan servers.
  process.on('exit', () => {
    for (const [child, watchdog] of live) {
      child.kill('SIGKILL');
      watchdog?.kill('SIGKILL');
    }
  });
}

/**
 * 'exit' handlers do not run when this process is SIGKILLed or dies from an
 * unhandled signal. A shell holding the read end of a pipe from us notices
 * that (EOF) and kills redis, so even a hard crash leaves no orphan server.
 */
function spawnWatchdog(pid: number): ChildProcess {
  const watchdog = spawn('sh', ['-c', 'read -r _; kill -KILL "$1" 2>/dev/null', 'redis-watchdog', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => undefined);
  // Neither the watchdog nor its pipe may keep our event loop alive.
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

/** Whether `command` is an executable on PATH (to give a clear message before spawning it). */
export function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not obtain a free port'))));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      // NOAUTH also proves the server is up (a test may pass --requirepass).
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class StartFailure extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

/** A throwaway server's arguments: loopback, nothing persisted unless `extraArgs` says otherwise. */
function serverArgs(port: number, extraArgs: string[]): string[] {
  return [
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--appendonly', 'no',
    '--protected-mode', 'no',
    '--daemonize', 'no',
    ...extraArgs,
  ];
}

async function launch(port: number, args: string[]): Promise<RedisHandle> {
  // cwd in tmpdir so that nothing redis might write ever lands in the repo.
  const child = spawn('redis-server', args, { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  const watchdog = child.pid === undefined ? undefined : spawnWatchdog(child.pid);
  live.set(child, watchdog);
  installExitHook();

  // Last few KB of output, to explain a failed start.
  let log = '';
  const collect = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let spawnError: Error | undefined;
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      live.delete(child);
      watchdog?.kill('SIGKILL');
      resolve();
    });
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `code ${String(code)}`;
      live.delete(child);
      watchdog?.kill('SIGKILL');
      resolve();
    });
  });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) {
      const code = (spawnError as NodeJS.ErrnoException).code;
      throw code === 'ENOENT' ? new Error(NOT_INSTALLED) : spawnError;
    }
    if (exitInfo) {
      throw new StartFailure(
        `redis-server on port ${port} exited during startup (${exitInfo}):\n${log}`,
        /address already in use/i.test(log),
      );
    }
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new StartFailure(
        `redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${log}`,
        false,
      );
    }
    await sleep(50);
  }

  // The 'exit' hook cleans up, so a server a test forgot to stop must not keep
  // the worker alive on its own. Its output is still drained, never blocked.
  child.unref();
  (child.stdout as Socket | null)?.unref();
  (child.stderr as Socket | null)?.unref();

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (exitInfo || spawnError) return;
    child.kill(signal);
    if (signal === 'SIGKILL') return exited;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(true), STOP_TIMEOUT_MS);
    });
    const late = await Promise.race([exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  return {
    port,
    url: `redis://${HOST}:${port}`,
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
  };
}

/**
 * Starts a private, throwaway redis-server on a free loopback port.
 * Nothing is persisted; each call gets its own process.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  return startRedisProcess((port) => serverArgs(port, opts.args ?? []), opts.port);
}

/**
 * Runs `redis-server <argsFor(port)>` (a server, or a sentinel with a config file and
 * `--sentinel`) on `port` or a free one, with the same watchdog, readiness check (PING)
 * and stop/kill as startRedis.
 */
export async function startRedisProcess(argsFor: (port: number) => string[], port?: number): Promise<RedisHandle> {
  if (!onPath('redis-server')) throw new Error(NOT_INSTALLED);
  if (port !== undefined) return launch(port, argsFor(port));
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt++) {
    // Another process can grab the port between our probe and redis binding it.
    const port = await freePort();
    try {
      return await launch(port, argsFor(port));
    } catch (err) {
      if (!(err instanceof StartFailure) || !err.portInUse) throw err;
      lastError = err;
    }
  }
  throw lastError ?? new Error('could not start redis-server');
}
