import { describe, expect, it } from 'vitest';
import { ejabberdConfig } from '../src/servers/ejabberd.js';
import { prosodyAccountFile, prosodyPathEncode } from '../src/servers/prosody.js';

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
    expect(config).toContain('    what: ["register", "send_message"]\n');
    expect(ejabberdConfig({ c2sPort: 1, httpPort: 2, certFile: 'c', requireTls: false })).toContain(
      '    starttls_required: false\n',
    );
  });
});
