/** What the `irsp` command's exit status means (docs/operations.md lists them for scripts). */
export const EXIT = {
  /** Done; for `status`, every service healthy. */
  ok: 0,
  /** The IRSP answered, but no: a refusal, something not found, a service not healthy, a receiver's error. */
  failed: 1,
  /** The command line or the manifest is wrong: nothing was asked. */
  usage: 2,
  /** A server could not be reached (refused, timed out, TLS failure). */
  unreachable: 3,
  /** The operator's credentials are missing or were not accepted (401). */
  unauthorized: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the command with a given status and a message for the person. */
export class CliError extends Error {
  constructor(
    readonly exit: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message);
