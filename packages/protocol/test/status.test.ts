/** Tables 1–7 of clause 8, their XML bodies, and how a sender reads an answer. */
import { describe, expect, it } from 'vitest';
import {
  AUTH_STATUSES,
  CLIENT_OPERATIONS,
  MESSAGES,
  STATUS_DETAILS,
  TABLES,
  XML_CONTENT_TYPE,
  allowedStatuses,
  errorBody,
  interpretResponse,
  parseErrorBody,
  type ErrorStatus,
} from '../src/index.js';

describe('errorBody', () => {
  it.each([
    [400, '<error><code>400</code><detail>bad request</detail></error>'],
    [421, '<error><code>421</code><detail>id existed</detail></error>'],
    [422, '<error><code>422</code><detail>id not existed</detail></error>'],
    [500, '<error><code>500</code><detail>server internal error</detail></error>'],
  ] as const)('%i is the body printed in Tables 1–7, without the spaces', (status, body) => {
    expect(errorBody(status)).toBe(body);
  });

  it.each([
    [401, '<error><code>401</code><detail>unauthorized</detail></error>'],
    [403, '<error><code>403</code><detail>forbidden</detail></error>'],
    [404, '<error><code>404</code><detail>not found</detail></error>'],
    [405, '<error><code>405</code><detail>method not allowed</detail></error>'],
    [413, '<error><code>413</code><detail>payload too large</detail></error>'],
    [415, '<error><code>415</code><detail>unsupported media type</detail></error>'],
    [429, '<error><code>429</code><detail>too many requests</detail></error>'],
  ] as const)('%i (our addition) has the same shape', (status, body) => {
    expect(errorBody(status)).toBe(body);
  });

  it('covers exactly the error codes we send', () => {
    expect(Object.keys(STATUS_DETAILS).map(Number)).toEqual([
      400, 401, 403, 404, 405, 413, 415, 421, 422, 429, 500,
    ]);
  });

  it('parses back to its code and detail', () => {
    for (const status of Object.keys(STATUS_DETAILS).map(Number) as ErrorStatus[]) {
      expect(parseErrorBody(errorBody(status))).toEqual({ code: status, detail: STATUS_DETAILS[status] });
    }
  });

  it('is served as XML', () => {
    expect(XML_CONTENT_TYPE).toBe('application/xml; charset=utf-8');
  });
});

describe('TABLES', () => {
  it('are Tables 1–7 as printed', () => {
    expect(TABLES).toEqual({
      table1: [200, 400, 421, 500],
      table2: [200, 400, 422, 500],
      table3: [200, 400, 422, 500],
      table4: [200, 400, 422, 500],
      table5: [200, 400, 500],
      table6: [200, 400, 422, 500],
      table7: [200, 400, 500],
    });
    expect(AUTH_STATUSES).toEqual([401, 403]);
  });
});

describe('parseErrorBody', () => {
  it('reads the body exactly as the standard prints it, with spaces between elements', () => {
    expect(parseErrorBody('<error> <code>421</code> <detail>id existed</detail> </error>')).toEqual({
      code: 421,
      detail: 'id existed',
    });
  });

  it('reads a body with newlines, indentation and an XML declaration', () => {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n\t<code>422</code>\r\n  <detail>id not existed</detail>\n</error>\n';
    expect(parseErrorBody(xml)).toEqual({ code: 422, detail: 'id not existed' });
  });

  it('gives back a detail other than ours and an empty detail', () => {
    expect(parseErrorBody('<error><code>400</code><detail>name: empty local part</detail></error>')).toEqual({
      code: 400,
      detail: 'name: empty local part',
    });
    expect(parseErrorBody('<error><code>400</code><detail/></error>')).toEqual({ code: 400, detail: '' });
  });

  it('refuses a DOCTYPE (billion laughs) even when the rest has the right shape', () => {
    const lol = [
      '<?xml version="1.0"?>',
      '<!DOCTYPE lolz [',
      ' <!ENTITY lol "lol">',
      ...Array.from(
        { length: 9 },
        (_, i) => ` <!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`,
      ),
      ']>',
      '<error><code>400</code><detail>&lol9;</detail></error>',
    ].join('\n');
    expect(lol.length).toBeLessThan(4096);
    expect(parseErrorBody(lol)).toBeUndefined();
  });

  it.each([
    '<!DOCTYPE error><error><code>400</code><detail>bad request</detail></error>',
    '<!doctype error><error><code>400</code><detail>bad request</detail></error>',
    '<!ENTITY x "y"><error><code>400</code><detail>bad request</detail></error>',
    '<error><code>400</code><detail>bad request</detail></error><!DOCTYPE x>',
  ])('refuses DOCTYPE or ENTITY anywhere: %j', (xml) => {
    expect(parseErrorBody(xml)).toBeUndefined();
  });

  it.each([
    '',
    'Not Found',
    '<html><body>502 Bad Gateway</body></html>',
    '{"code":400,"detail":"bad request"}',
    '<error></error>',
    '<error><code>400</code></error>',
    '<error><detail>bad request</detail></error>',
    '<error><code></code><detail>bad request</detail></error>',
    '<error><code>abc</code><detail>bad request</detail></error>',
    '<error><code>40</code><detail>bad request</detail></error>',
    '<error><code>4000</code><detail>bad request</detail></error>',
    '<error><code>400</code><code>421</code><detail>bad request</detail></error>',
    '<error><code>400</code><detail>a</detail><detail>b</detail></error>',
    '<error><code>400</code><detail><b>bad</b></detail></error>',
    '<error><code>400</code><detail>bad request</detail></error><error><code>400</code><detail>x</detail></error>',
    '<Error><code>400</code><detail>bad request</detail></Error>',
    '<err><code>400</code><detail>bad request</detail></err>',
    '<error><code>400</code><detail>bad request</detail>',
    '<error><code>400</code><detail>bad request</error></detail>',
    '<error><code>400<detail>bad request</detail></error>',
  ])('refuses a body that is not the clause 8 shape: %j', (xml) => {
    expect(parseErrorBody(xml)).toBeUndefined();
  });

  it('refuses more than 4096 characters, accepts 4096', () => {
    const body = errorBody(400);
    const padded = (n: number) => body + ' '.repeat(n - body.length);
    expect(parseErrorBody(padded(4096))).toEqual({ code: 400, detail: 'bad request' });
    expect(parseErrorBody(padded(4097))).toBeUndefined();
  });
});

describe('interpretResponse', () => {
  const TABLE_OF: Record<number, keyof typeof TABLES> = {
    1: 'table1',
    2: 'table1',
    3: 'table2',
    4: 'table2',
    5: 'table3',
    6: 'table3',
    7: 'table4',
    8: 'table5',
    9: 'table5',
    10: 'table5',
    11: 'table5',
    12: 'table6',
    13: 'table6',
    14: 'table7',
    15: 'table7',
  };
  const CODES: readonly ErrorStatus[] = [400, 401, 403, 404, 405, 413, 415, 421, 422, 429, 500];

  describe.each(MESSAGES.map((m) => ({ number: m.number, m })))('Message $number', ({ number, m }) => {
    const table = TABLE_OF[number]!;
    const inTable: readonly number[] = [...TABLES[table], 401, 403];

    it(`allows ${table} plus 401 and 403`, () => {
      expect(allowedStatuses(m)).toEqual([...TABLES[table], 401, 403]);
    });

    it('200 with an empty body is success', () => {
      expect(interpretResponse(m, 200, '')).toEqual({ kind: 'status', status: 200 });
    });

    it('each error code of the table, and 401/403, with its body', () => {
      for (const code of CODES.filter((c) => inTable.includes(c))) {
        expect(interpretResponse(m, code, errorBody(code))).toEqual({
          kind: 'status',
          status: code,
          detail: STATUS_DETAILS[code],
        });
      }
    });

    it('a code outside the table is unexpected', () => {
      for (const code of [...CODES.filter((c) => !inTable.includes(c)), 201, 204, 302, 502, 503]) {
        const body = code in STATUS_DETAILS ? errorBody(code as ErrorStatus) : '';
        expect(interpretResponse(m, code, body)).toEqual({
          kind: 'unexpected',
          httpStatus: code,
          reason: `status ${code} is not in ${table}`,
        });
      }
    });

    it('an error code with a body that is not the XML shape, or names another code, is unexpected', () => {
      const unexpected = (httpStatus: number) => ({
        kind: 'unexpected',
        httpStatus,
        reason: 'error body is not <error><code/><detail/></error>',
      });
      expect(interpretResponse(m, 400, 'Bad Request')).toEqual(unexpected(400));
      expect(interpretResponse(m, 500, '')).toEqual(unexpected(500));
      expect(interpretResponse(m, 401, errorBody(403))).toEqual(unexpected(401));
      expect(interpretResponse(m, 500, errorBody(400))).toEqual(unexpected(500));
    });
  });

  it('a 421 with a non-XML body is unexpected', () => {
    expect(interpretResponse(MESSAGES[0], 421, '<html>id existed</html>')).toEqual({
      kind: 'unexpected',
      httpStatus: 421,
      reason: 'error body is not <error><code/><detail/></error>',
    });
  });

  it("keeps the peer's detail", () => {
    expect(
      interpretResponse(
        MESSAGES[0],
        400,
        '<error> <code>400</code> <detail>name: empty local part</detail> </error>',
      ),
    ).toEqual({ kind: 'status', status: 400, detail: 'name: empty local part' });
  });

  it('reads client API answers with their table', () => {
    expect(CLIENT_OPERATIONS.map((op) => allowedStatuses(op))).toEqual([
      [200, 400, 421, 500, 401, 403],
      [200, 400, 421, 500, 401, 403],
      [200, 400, 422, 500, 401, 403, 429],
      [200, 400, 422, 500, 401, 403, 429],
      [200, 400, 422, 500, 401, 403, 429],
      [200, 400, 422, 500, 401, 403, 429],
    ]);
    expect(interpretResponse(CLIENT_OPERATIONS[2], 429, errorBody(429))).toEqual({
      kind: 'status',
      status: 429,
      detail: 'too many requests',
    });
    expect(interpretResponse(CLIENT_OPERATIONS[0], 401, errorBody(401))).toEqual({
      kind: 'status',
      status: 401,
      detail: 'unauthorized',
    });
  });
});
