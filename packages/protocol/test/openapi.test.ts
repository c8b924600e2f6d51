/** The OpenAPI description generated from the message schemas. */
import { describe, expect, it } from 'vitest';
import { MESSAGES, errorBody, message12, message13, openApiDocument } from '../src/index.js';

const message2 = MESSAGES[1];
const xmlExample = (status: 400 | 401 | 403 | 421 | 422 | 500, description: string) => ({
  description,
  content: { 'application/xml; charset=utf-8': { example: errorBody(status) } },
});

describe('openApiDocument', () => {
  const doc = openApiDocument({ title: 'message server', version: '0.1.0' }, [
    { operation: message2, path: '/device/register', methods: ['get', 'post'], description: 'Message 2.' },
  ]);
  const item = doc.paths['/device/register'] as Record<string, Record<string, unknown>>;

  it('is OpenAPI 3.1 with the given info and only the served path', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toEqual({ title: 'message server', version: '0.1.0' });
    expect(Object.keys(doc.paths)).toEqual(['/device/register']);
    expect(Object.keys(item)).toEqual(['get', 'post']);
  });

  it('GET takes the query parameters of Message 2 in printed order, required as the schema says', () => {
    const get = item.get!;
    expect(get.operationId).toBe('deviceRegisterGet');
    expect(get.summary).toBe('Device registration message sent from account server to message server');
    expect(get.description).toBe('Message 2. Additional parameters are carried through.');
    const parameters = get.parameters as { name: string; in: string; required: boolean; schema: unknown }[];
    expect(parameters.map(({ name, in: where, required }) => [name, where, required])).toEqual([
      ['version', 'query', true],
      ['appid', 'query', true],
      ['token', 'query', true],
      ['name', 'query', true],
      ['password', 'query', true],
      ['verifycode', 'query', false],
      ['type', 'query', false],
      ['vendor', 'query', false],
      ['model', 'query', false],
    ]);
    const schemas = Object.fromEntries(parameters.map((p) => [p.name, p.schema]));
    expect(schemas.version).toEqual({ type: 'string', const: '1' });
    expect(schemas.appid).toEqual({ type: 'string', pattern: '^[A-Za-z0-9._~-]{1,128}$' });
    expect(schemas.name).toEqual({ type: 'string' });
    expect(schemas.password).toEqual({
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[^\\p{Cc}]*$',
    });
    expect(schemas.verifycode).toEqual({ type: 'string', maxLength: 256, pattern: '^[^\\p{Cc}]*$' });
  });

  it('POST takes a form body with the same properties, the required ones, and extras allowed', () => {
    const post = item.post!;
    expect(post.operationId).toBe('deviceRegister');
    expect(post.parameters).toBeUndefined();
    const body = post.requestBody as {
      required: boolean;
      content: Record<
        string,
        { schema: { type: string; properties: object; required: string[]; additionalProperties: boolean } }
      >;
    };
    expect(body.required).toBe(true);
    expect(Object.keys(body.content)).toEqual(['application/x-www-form-urlencoded']);
    const schema = body.content['application/x-www-form-urlencoded']!.schema;
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties)).toEqual([
      'version',
      'appid',
      'token',
      'name',
      'password',
      'verifycode',
      'type',
      'vendor',
      'model',
    ]);
    expect(schema.required).toEqual(['version', 'appid', 'token', 'name', 'password']);
    expect(schema.additionalProperties).toBe(true);
  });

  it('both methods answer with Table 1 plus 401/403, error examples equal to errorBody', () => {
    const expected = {
      '200': { description: 'Successful (empty body)' },
      '400': xmlExample(400, 'bad request'),
      '401': xmlExample(401, 'unauthorized'),
      '403': xmlExample(403, 'forbidden'),
      '421': xmlExample(421, 'id existed'),
      '500': xmlExample(500, 'server internal error'),
    };
    expect(item.get!.responses).toEqual(expected);
    expect(item.post!.responses).toEqual(expected);
  });

  it('serves two operations on one configured URI without extras', () => {
    const push = openApiDocument({ title: 'ms', version: '1' }, [
      { operation: message12, path: '/push', methods: ['post'] },
      { operation: message13, path: '/push', methods: ['get'] },
    ]).paths['/push'] as Record<string, Record<string, unknown>>;
    expect(Object.keys(push)).toEqual(['post', 'get']);
    expect(push.post!.operationId).toBe('pushToUser');
    expect(push.post!.description).toBe('');
    expect(push.get!.operationId).toBe('pushToDeviceGet');
    const body = push.post!.requestBody as {
      content: Record<string, { schema: { required: string[]; additionalProperties: boolean } }>;
    };
    expect(body.content['application/x-www-form-urlencoded']!.schema.required).toEqual([
      'userid',
      'data',
      'appid',
      'token',
    ]);
    expect(body.content['application/x-www-form-urlencoded']!.schema.additionalProperties).toBe(false);
    expect(Object.keys(push.get!.responses as object)).toEqual(['200', '400', '401', '403', '422', '500']);
  });
});
