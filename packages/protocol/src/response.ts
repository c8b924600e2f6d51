/** How a sender reads the answer to an operation: the table's status, an auth refusal, or something unexpected. */
import type { Operation } from './operation.js';
import { AUTH_STATUSES, STATUS_DETAILS, TABLES, parseErrorBody, type Status } from './status.js';

export type Outcome =
  | { kind: 'status'; status: Status; detail?: string }
  /** A code outside the table (a proxy's 502, a 404 from a wrong URI…), or an error body of the wrong shape. */
  | { kind: 'unexpected'; httpStatus: number; reason: string };

export function allowedStatuses(operation: Operation): readonly Status[] {
  return [...TABLES[operation.table], ...AUTH_STATUSES, ...(operation.passwordChecked ? [429 as const] : [])];
}

export function interpretResponse(operation: Operation, httpStatus: number, body: string): Outcome {
  if (!(allowedStatuses(operation) as readonly number[]).includes(httpStatus)) {
    return { kind: 'unexpected', httpStatus, reason: `status ${httpStatus} is not in ${operation.table}` };
  }
  const status = httpStatus as Status;
  if (status === 200) return { kind: 'status', status };
  const parsed = parseErrorBody(body);
  if (!parsed || parsed.code !== status) {
    return { kind: 'unexpected', httpStatus, reason: 'error body is not <error><code/><detail/></error>' };
  }
  return { kind: 'status', status, detail: parsed.detail ?? STATUS_DETAILS[status] };
}
