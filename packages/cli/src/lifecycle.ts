/** Signal handling for the long-running commands (`server`, `demo`): stop once, cleanly, within a deadline. */

export interface Stopper {
  /** Resolves with the first SIGINT/SIGTERM. */
  readonly signalled: Promise<NodeJS.Signals>;
  /** Runs `stop` with a deadline; later signals are swallowed so they cannot interrupt a clean stop. */
  stop(stop: () => Promise<void>, onTimeout: () => void, deadlineMs?: number): Promise<void>;
  dispose(): void;
}

export function onShutdownSignal(): Stopper {
  let resolveSignal: (s: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    resolveSignal = resolve;
  });
  // Ctrl-C reaches every process in the group (npm, scripts/demo.js, us), so a signal often comes twice.
  const handler = (s: NodeJS.Signals) => resolveSignal(s);
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  const dispose = () => {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  };
  return {
    signalled,
    dispose,
    async stop(stop, onTimeout, deadlineMs = 15_000) {
      const timer = setTimeout(onTimeout, deadlineMs);
      timer.unref();
      try {
        await stop();
      } finally {
        clearTimeout(timer);
        dispose();
      }
    },
  };
}

/** Turns "address in use" from any listener into an actionable message; other errors pass through. */
export function describeListenError(err: unknown): unknown {
  const e = err as { code?: unknown; port?: unknown };
  if (e && e.code === 'EADDRINUSE') {
    const port = typeof e.port === 'number' ? `port ${e.port}` : 'a port';
    return Object.assign(new Error(`${port} is already in use (another outpost server?); pick another port`), {
      code: 'EADDRINUSE',
      cause: err,
    });
  }
  return err;
}
