import { describe, expect, it } from 'vitest';
import { ejabberdCommand, ejabberdConfig, ejabberdCount } from '../src/servers/ejabberd.js';
import { prosodyAccountFile, prosodyListItems, prosodyPathEncode } from '../src/servers/prosody.js';

describe('Prosody accounts written directly', () => {
  it('match what prosodyctl register writes (Prosody 0.12.3, password "secret")', () => {
    expect(prosodyAccountFile('secret', '15a3b4e8-d544-4730-b93f-e60ffe7d2064', 10000)).toBe(
      'return {\n' +
        '\t["stored_key"] = "ecc379b231f590f50270c358de85820bfe190d39";\n' +
        '\t["server_key"] = "64e362cc29dc04ea5e29c92f37daadf93152a135";\n' +
        '\t["salt"] = "15a3b4e8-d544-4730-b93f-e60ffe7d2064";\n' +
        '\t["iteration_count"] = 10000;\n' +
        '};\n',
    );
  });

  it('encode data paths as util/datamanager.lua does', () => {
    expect(prosodyPathEncode('as1.irsp.test')).toBe('as1%2eirsp%2etest');
    expect(prosodyPathEncode('#lock-1')).toBe('%23lock%2d1');
  });
});

describe('ejabberd configuration', () => {
  it('turns shapers and session and offline limits off and requires STARTTLS when asked', () => {
    const config = ejabberdConfig({
      c2sPort: 40001,
      httpPort: 40002,
      certFile: '/tmp/x.pem',
      requireTls: true,
    });
    expect(config).toContain('    port: 40001\n'.replace('    ', '  - '));
    expect(config).toContain('    shaper: none\n');
    expect(config).toContain('    starttls_required: true\n');
    expect(config).toContain('  max_user_sessions: infinity\n  max_user_offline_messages: infinity\n');
    expect(config).toContain('    what: ["register", "send_message", "get_offline_count"]\n');
    expect(ejabberdConfig({ c2sPort: 1, httpPort: 2, certFile: 'c', requireTls: false })).toContain(
      '    starttls_required: false\n',
    );
  });
});

describe('ejabberd command', () => {
  it('turns busy wait off on the normal, dirty CPU and dirty I/O schedulers', () => {
    expect(ejabberdCommand('/tmp/run/spool')).toEqual([
      'erl',
      '-noinput',
      '-noshell',
      '+K',
      'true',
      '+P',
      '1000000',
      '+sbwt',
      'none',
      '+sbwtdcpu',
      'none',
      '+sbwtdio',
      'none',
      '-mnesia',
      'dir',
      '"/tmp/run/spool"',
      '-s',
      'ejabberd',
    ]);
  });
});

describe('offline counts read from each server', () => {
  it('count the items of a Prosody list file, one `item(…);` line each, wherever else `item(` appears', () => {
    expect(prosodyListItems('')).toBe(0);
    expect(
      prosodyListItems(
        'item({["attr"] = {["to"] = "o@as1.irsp.test";};["name"] = "message";[1] = "item(";});\n' +
          'item({["attr"] = {};["name"] = "message";[1] = " item(b";});\n',
      ),
    ).toBe(2);
  });

  it("read ejabberd's get_offline_count answer in either form and refuse anything else", () => {
    expect(ejabberdCount('1000')).toBe(1000);
    expect(ejabberdCount('{"value":0}')).toBe(0);
    expect(() => ejabberdCount('"12"')).toThrow('not a count: "12"');
    expect(() => ejabberdCount('-1')).toThrow('not a count: -1');
    expect(() => ejabberdCount('{"count":3}')).toThrow('not a count: {"count":3}');
  });
});
