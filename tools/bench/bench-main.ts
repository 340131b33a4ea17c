// The process frame of a bench command (`npm run bench`, `npm run bench:bigkeys`): runs its main,
// sets the exit code, and stops every server it still owns when main ends, fails or is
// interrupted (Ctrl-C, SIGTERM). Owns nothing else.

/** A running set-up the bench command must stop before it exits. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Exit code when main throws. */
const EXIT_FAILED = 1;
/** Exit code after SIGINT/SIGTERM, as a shell reports a process ended by SIGINT. */
const EXIT_INTERRUPTED = 130;

/**
 * Run `main` as the process's body. `live` holds what it started and has not yet stopped; all of
 * it is stopped once main settles or a signal arrives.
 */
export function runBenchMain(name: string, live: Set<Stoppable>, main: () => Promise<number>): void {
  const stopAll = async (): Promise<void> => {
    const xs = [...live];
    live.clear();
    await Promise.all(xs.map((x) => x.stop()));
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void stopAll().finally(() => process.exit(EXIT_INTERRUPTED));
    });
  }
  main()
    .then(
      (code) => {
        process.exitCode = code;
      },
      (e: unknown) => {
        process.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exitCode = EXIT_FAILED;
      },
    )
    .finally(() => stopAll());
}
