/** Progress on stderr for anything that takes more than a second, so that a person knows what is awaited. */
export interface Progress {
  /** Starts waiting for `what`; the returned function ends it. */
  waiting(what: string): () => void;
}

export const PROGRESS_AFTER_MS = 1_000;

export function stderrProgress(write: (text: string) => void, afterMs = PROGRESS_AFTER_MS): Progress {
  return {
    waiting(what) {
      const started = Date.now();
      const timer = setTimeout(() => write(`irsp: waiting for ${what}…\n`), afterMs);
      return () => {
        clearTimeout(timer);
        const ms = Date.now() - started;
        if (ms >= afterMs) write(`irsp: ${what} answered after ${(ms / 1000).toFixed(1)} s\n`);
      };
    },
  };
}
