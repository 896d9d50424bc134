/**
 * Ordered shutdown for a process made of components: each started component registers its stop step;
 * `stop()` runs them in reverse start order, and every step runs even if an earlier one failed
 * (STYLE §8). The CLI entrypoint adds the watchdog; this module never touches `process`.
 */

/** One cleanup step that failed, with its name. */
export interface StepFailure {
  step: string;
  error: unknown;
}

/** A stack of stop steps. */
export class Lifecycle {
  private readonly steps: Array<{ name: string; run: () => Promise<void> }> = [];
  private stopping: Promise<StepFailure[]> | undefined;

  /** Registers the stop step of a component that has just started. */
  add(name: string, run: () => Promise<void>): void {
    this.steps.push({ name, run });
  }

  /** Runs every step in reverse order; resolves with the failures. Idempotent: a second call gets the same promise. */
  stop(onStep?: (name: string, error?: unknown) => void): Promise<StepFailure[]> {
    this.stopping ??= this.runAll(onStep);
    return this.stopping;
  }

  private async runAll(onStep?: (name: string, error?: unknown) => void): Promise<StepFailure[]> {
    const failures: StepFailure[] = [];
    for (const { name, run } of [...this.steps].reverse()) {
      try {
        await run();
        onStep?.(name);
      } catch (error) {
        failures.push({ step: name, error });
        onStep?.(name, error);
      }
    }
    return failures;
  }
}
