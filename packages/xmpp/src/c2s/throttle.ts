/**
 * What the c2s engine asks before it tells a SASL attempt its outcome. The policy (back-off per address, budgets
 * per account shared by every server) is the server's: docs/decisions/0010-guessing-throttle.md.
 */
export interface LoginGuard {
  /** Milliseconds an attempt from this address must still wait before anything is tried (0: go ahead). */
  addressWait(address: string | undefined): number;
  /**
   * Called once a password has been checked, before the answer: 'refused' makes the answer
   * `temporary-auth-failure` whether the password was right or not; otherwise the attempt is settled with its
   * outcome. `account` is the canonical local part.
   */
  admit(address: string | undefined, account: string): Promise<LoginAttempt | 'refused'>;
}

export interface LoginAttempt {
  settle(right: boolean): Promise<void>;
}
