import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Element } from '../../src/xml/element.js';
import {
  parseElement,
  StreamParser,
  type StreamParserErrorCondition,
  type StreamParserOptions,
} from '../../src/xml/stream-parser.js';

const NS_STREAM = 'http://etherx.jabber.org/streams';
const HEADER = `<stream:stream xmlns='jabber:client' xmlns:stream='${NS_STREAM}' to='capulet.example' version='1.0'>`;
const HEADER_ATTRS = {
  xmlns: 'jabber:client',
  'xmlns:stream': NS_STREAM,
  to: 'capulet.example',
  version: '1.0',
};
const NAMESPACES = { default: 'jabber:client', stream: NS_STREAM };

type Event =
  | ['streamStart', Record<string, string>, { default: string | undefined; stream: string | undefined }]
  | ['stanza', string, string | undefined]
  | ['streamEnd']
  | ['error', StreamParserErrorCondition];

interface Harness {
  parser: StreamParser;
  events: Event[];
  stanzas: Element[];
  texts: string[];
}

/** A parser recording its events; `resetOn` names the stanzas after which the handler restarts the stream. */
function harness(options: Partial<StreamParserOptions> = {}, resetOn: string[] = []): Harness {
  const events: Event[] = [];
  const stanzas: Element[] = [];
  const texts: string[] = [];
  const parser: StreamParser = new StreamParser(
    {
      streamStart: (attrs, namespaces) => events.push(['streamStart', attrs, namespaces]),
      stanza: (el) => {
        events.push(['stanza', el.toString(), el.xmlns]);
        stanzas.push(el);
        if (resetOn.includes(el.name)) parser.reset();
      },
      streamEnd: () => events.push(['streamEnd']),
      error: (condition, text) => {
        events.push(['error', condition]);
        texts.push(text);
      },
    },
    { maxStanzaBytes: 262_144, ...options },
  );
  return { parser, events, stanzas, texts };
}

function run(
  input: string | Buffer | (string | Buffer)[],
  options: Partial<StreamParserOptions> = {},
): Event[] {
  const h = harness(options);
  for (const chunk of Array.isArray(input) ? input : [input]) h.parser.write(chunk);
  return h.events;
}

/** The single error condition a stream produces (and checks that it is the last event). */
function errorOf(input: string | Buffer | (string | Buffer)[], options: Partial<StreamParserOptions> = {}) {
  const events = run(input, options);
  const errors = events.filter((e) => e[0] === 'error');
  expect(errors).toHaveLength(1);
  expect(events[events.length - 1]).toBe(errors[0]);
  return errors[0]![1];
}

// A realistic client stream: TLS already done, SASL PLAIN, restart, bind, presence, messages, keep-alives, end.
const CLIENT_STREAM =
  "<?xml version='1.0'?>" +
  `<stream:stream from='juliet@capulet.example' to='capulet.example' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='${NS_STREAM}'>` +
  "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>" +
  "<?xml version='1.0'?>" +
  `<stream:stream to='capulet.example' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='${NS_STREAM}'>\n` +
  "<iq id='yhc13a95' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>\n" +
  '<presence/> \n\t ' +
  "<message to='romeo@montague.example' type='chat' id='m1'><body>Art thou not Romeo, and a Montague? ä € 😀 &lt;&amp;&gt;&#x1F339;&#65;</body></message>" +
  ' ' +
  "<message to='romeo@montague.example' id='m2'><body><![CDATA[<b>bold</b>]]> and &apos;quoted&quot;</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>" +
  "<iq type='get' id='ping1' to='capulet.example'><ping xmlns='urn:xmpp:ping'/></iq>\r\n" +
  '</stream:stream>';

const CLIENT_EVENTS: Event[] = [
  [
    'streamStart',
    {
      from: 'juliet@capulet.example',
      to: 'capulet.example',
      version: '1.0',
      'xml:lang': 'en',
      xmlns: 'jabber:client',
      'xmlns:stream': NS_STREAM,
    },
    NAMESPACES,
  ],
  [
    'stanza',
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>",
    'urn:ietf:params:xml:ns:xmpp-sasl',
  ],
  [
    'streamStart',
    {
      to: 'capulet.example',
      version: '1.0',
      'xml:lang': 'en',
      xmlns: 'jabber:client',
      'xmlns:stream': NS_STREAM,
    },
    NAMESPACES,
  ],
  [
    'stanza',
    "<iq id='yhc13a95' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>",
    'jabber:client',
  ],
  ['stanza', '<presence/>', 'jabber:client'],
  [
    'stanza',
    "<message to='romeo@montague.example' type='chat' id='m1'><body>Art thou not Romeo, and a Montague? ä € 😀 &lt;&amp;&gt;🌹A</body></message>",
    'jabber:client',
  ],
  [
    'stanza',
    "<message to='romeo@montague.example' id='m2'><body>&lt;b&gt;bold&lt;/b&gt; and 'quoted\"</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>",
    'jabber:client',
  ],
  [
    'stanza',
    "<iq type='get' id='ping1' to='capulet.example'><ping xmlns='urn:xmpp:ping'/></iq>",
    'jabber:client',
  ],
  ['streamEnd'],
];

function feedClientStream(chunks: (string | Buffer)[]): Event[] {
  const h = harness({}, ['auth']);
  for (const chunk of chunks) h.parser.write(chunk);
  return h.events;
}

describe('StreamParser: a realistic client stream', () => {
  it('emits the headers, every depth-1 element and the end, in one write', () => {
    expect(feedClientStream([Buffer.from(CLIENT_STREAM)])).toEqual(CLIENT_EVENTS);
  });

  it('resolves namespaces and builds the tree', () => {
    const h = harness({}, ['auth']);
    h.parser.write(CLIENT_STREAM);
    const iq = h.stanzas[1]!;
    expect(iq.name).toBe('iq');
    expect(iq.attrs).toEqual({ id: 'yhc13a95', type: 'set' });
    const bind = iq.getChild('bind', 'urn:ietf:params:xml:ns:xmpp-bind')!;
    expect(bind.xmlns).toBe('urn:ietf:params:xml:ns:xmpp-bind');
    expect(bind.getChild('resource')!.xmlns).toBe('urn:ietf:params:xml:ns:xmpp-bind');
    expect(bind.getChildText('resource')).toBe('balcony');
    // CDATA and text are merged into one text node.
    expect(h.stanzas[4]!.getChild('body')!.children).toEqual(['<b>bold</b> and \'quoted"']);
    expect(h.stanzas[3]!.getChildText('body')).toBe('Art thou not Romeo, and a Montague? ä € 😀 <&>🌹A');
  });

  it('gives the same events when fed one byte at a time (multi-byte characters split)', () => {
    const bytes = Buffer.from(CLIENT_STREAM);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
    expect(feedClientStream(chunks)).toEqual(CLIENT_EVENTS);
  });

  it('gives the same events for every split of the bytes into two chunks', () => {
    const bytes = Buffer.from(CLIENT_STREAM);
    for (let i = 1; i < bytes.length; i++) {
      const events = feedClientStream([bytes.subarray(0, i), bytes.subarray(i)]);
      if (JSON.stringify(events) !== JSON.stringify(CLIENT_EVENTS)) {
        expect({ split: i, events }).toEqual({ split: i, events: CLIENT_EVENTS });
      }
    }
  });

  it('gives the same events for strings split at every UTF-16 index (surrogate pairs and CRLF split)', () => {
    for (let i = 1; i < CLIENT_STREAM.length; i++) {
      const events = feedClientStream([CLIENT_STREAM.slice(0, i), CLIENT_STREAM.slice(i)]);
      if (JSON.stringify(events) !== JSON.stringify(CLIENT_EVENTS)) {
        expect({ split: i, events }).toEqual({ split: i, events: CLIENT_EVENTS });
      }
    }
  });

  it('accepts an XML declaration with encoding UTF-8 in any case, and a self-closing stream', () => {
    expect(run(`<?xml version='1.0' encoding='utf-8'?>${HEADER}<presence/></stream:stream>`)).toEqual([
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      ['stanza', '<presence/>', 'jabber:client'],
      ['streamEnd'],
    ]);
    expect(
      run(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><stream xmlns='${NS_STREAM}'/>`),
    ).toEqual([
      ['streamStart', { xmlns: NS_STREAM }, { default: NS_STREAM, stream: undefined }],
      ['streamEnd'],
    ]);
  });

  it('ignores input after </stream:stream>', () => {
    expect(run([`${HEADER}</stream:stream>`, '<message/>', 'garbage <<<'])).toEqual([
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      ['streamEnd'],
    ]);
  });

  it('keeps character references to astral and special characters', () => {
    const h = harness();
    h.parser.write(
      `${HEADER}<message><body a='&#9;&#10;&#13;&#x1F600;'>&#13;&#x10FFFF;&#xD7FF;</body></message>`,
    );
    const body = h.stanzas[0]!.getChild('body')!;
    expect(body.attrs).toEqual({ a: '\t\n\r😀' });
    expect(body.text()).toBe('\r\u{10FFFF}\uD7FF');
  });
});

describe('StreamParser: namespace prefixes declared on the stream header', () => {
  const header =
    `<stream:stream xmlns='jabber:server' xmlns:stream='${NS_STREAM}' xmlns:db='jabber:server:dialback' ` +
    "xmlns:foo='urn:foo' xmlns:unused='urn:unused'>";

  it('copies the declarations a stanza uses onto the depth-1 element, and only those', () => {
    const h = harness();
    h.parser.write(
      header +
        "<db:result from='a.example' to='b.example'>key</db:result>" +
        "<message to='x@b.example'><foo:x foo:a='1' b='2'/><y foo:c='3'/></message>" +
        '<stream:features/>' +
        "<iq><bar:q xmlns:bar='urn:bar'><bar:r/></bar:q><foo:z xmlns:foo='urn:foo2'/></iq>" +
        '<presence/>',
    );
    expect(h.events.slice(1)).toEqual([
      [
        'stanza',
        "<db:result from='a.example' to='b.example' xmlns:db='jabber:server:dialback'>key</db:result>",
        'jabber:server:dialback',
      ],
      [
        'stanza',
        "<message to='x@b.example' xmlns:foo='urn:foo'><foo:x foo:a='1' b='2'/><y foo:c='3'/></message>",
        'jabber:server',
      ],
      ['stanza', `<stream:features xmlns:stream='${NS_STREAM}'/>`, NS_STREAM],
      // Declared inside the stanza itself: nothing copied.
      [
        'stanza',
        "<iq><bar:q xmlns:bar='urn:bar'><bar:r/></bar:q><foo:z xmlns:foo='urn:foo2'/></iq>",
        'jabber:server',
      ],
      // The default namespace is never copied.
      ['stanza', '<presence/>', 'jabber:server'],
    ]);
    expect(h.stanzas[1]!.attrs).toEqual({ to: 'x@b.example', 'xmlns:foo': 'urn:foo' });
    expect(h.stanzas[3]!.getChild('z', 'urn:foo2')?.name).toBe('foo:z');
  });

  it('makes the stanzas re-parse standalone with the same namespaces', () => {
    const h = harness();
    h.parser.write(header + "<message><foo:x foo:a='1'><foo:y/></foo:x></message><db:verify id='1'/>");
    const message = parseElement(h.stanzas[0]!.toString());
    expect(message.getChild('x', 'urn:foo')?.getChild('y', 'urn:foo')?.name).toBe('foo:y');
    expect(parseElement(h.stanzas[1]!.toString()).xmlns).toBe('jabber:server:dialback');
  });
});

describe('StreamParser: reset() (stream restart, RFC 6120 §4.3.3)', () => {
  const restartHeader = `<stream:stream xmlns='jabber:client' xmlns:stream='${NS_STREAM}' to='capulet.example' version='1.0'>`;

  it('called from the stanza callback, takes effect for the rest of the same chunk', () => {
    const h = harness({}, ['auth']);
    h.parser.write(HEADER);
    h.parser.write(
      "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>" +
        restartHeader +
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    );
    h.parser.write('<presence/></stream:stream>');
    expect(h.events).toEqual([
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      [
        'stanza',
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>",
        'urn:ietf:params:xml:ns:xmpp-sasl',
      ],
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      [
        'stanza',
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
        'jabber:client',
      ],
      ['stanza', '<presence/>', 'jabber:client'],
      ['streamEnd'],
    ]);
  });

  it('without reset() the same chunk does not give a new stream header', () => {
    const h = harness();
    h.parser.write(HEADER);
    h.parser.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>${restartHeader}<presence/>`);
    expect(h.events.filter((e) => e[0] === 'streamStart')).toHaveLength(1);
  });

  it('allows whitespace and an XML declaration before the new header, and repeated restarts in one chunk', () => {
    const h = harness({}, ['auth', 'proceed']);
    h.parser.write(
      HEADER +
        "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n  " +
        "<?xml version='1.0'?>" +
        restartHeader +
        " <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" +
        restartHeader +
        '<presence/>',
    );
    expect(h.events.map((e) => e[0] + (e[0] === 'stanza' ? ' ' + e[1] : ''))).toEqual([
      'streamStart',
      "stanza <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
      'streamStart',
      "stanza <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
      'streamStart',
      'stanza <presence/>',
    ]);
  });

  it('called between writes, expects a new header next', () => {
    const h = harness();
    h.parser.write(HEADER + '<presence/><message><bo');
    h.parser.reset();
    h.parser.write(restartHeader + '<presence/>');
    expect(h.events).toEqual([
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      ['stanza', '<presence/>', 'jabber:client'],
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      ['stanza', '<presence/>', 'jabber:client'],
    ]);
  });

  it('the new stream is checked like the first one', () => {
    const h = harness({}, ['auth']);
    h.parser.write(HEADER + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><message/>");
    expect(h.events.map((e) => e[0])).toEqual(['streamStart', 'stanza', 'error']);
    expect(h.events[2]).toEqual(['error', 'not-well-formed']);
  });
});

describe('StreamParser: restricted XML (RFC 6120 §11.1)', () => {
  it.each([
    ['DOCTYPE before the header', `<!DOCTYPE stream>${HEADER}`],
    ['DOCTYPE with an internal subset', `<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY a 'b'>]>${HEADER}`],
    ['DOCTYPE inside the stream', `${HEADER}<!DOCTYPE message>`],
    ['comment before the header', `<!-- hi -->${HEADER}`],
    ['comment between stanzas', `${HEADER}<presence/><!-- hi --><presence/>`],
    ['comment inside a stanza', `${HEADER}<message><!-- hi --></message>`],
    ['processing instruction before the header', `<?foo bar?>${HEADER}`],
    ['processing instruction inside a stanza', `${HEADER}<message><?foo bar?></message>`],
    ['XML declaration after the header', `${HEADER}<?xml version='1.0'?><presence/>`],
    ['XML declaration not at the very start', ` <?xml version='1.0'?>${HEADER}`],
    ['undefined entity in text', `${HEADER}<message><body>&nbsp;</body></message>`],
    ['undefined entity in an attribute', `${HEADER}<message to='&foo;'/>`],
    ['undefined entity between stanzas', `${HEADER}&foo;<presence/>`],
  ])('%s → restricted-xml', (_name, input) => {
    expect(errorOf(input)).toBe('restricted-xml');
  });

  it('billion laughs → restricted-xml without expansion', () => {
    let doctype = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">';
    doctype += '<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">';
    for (let i = 2; i <= 9; i++) {
      doctype += `<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`;
    }
    doctype += ']>';
    const before = process.memoryUsage().heapUsed;
    const started = performance.now();
    expect(run(doctype + HEADER + '<message><body>&lol9;</body></message>')).toEqual([
      ['error', 'restricted-xml'],
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50_000_000);
    // The same entity used without the DOCTYPE is just an undefined entity.
    expect(run(`${HEADER}<message><body>&lol9;</body></message>`)).toEqual([
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      ['error', 'restricted-xml'],
    ]);
  });
});

describe('StreamParser: other errors', () => {
  it.each([
    ['mismatched end tag', `${HEADER}<message><body></message>`],
    ['unquoted attribute', `${HEADER}<message to=a@b/>`],
    ['duplicate attribute', `${HEADER}<message to='a' to='b'/>`],
    ['unbound prefix', `${HEADER}<foo:x/>`],
    ['disallowed control character', `${HEADER}<message>\u0001</message>`],
    ['character reference to NUL', `${HEADER}<message>&#0;</message>`],
    ['character reference to U+FFFE', `${HEADER}<message a='&#xFFFE;'/>`],
    ['character reference to a surrogate', `${HEADER}<message>&#xD800;</message>`],
    ['malformed character reference', `${HEADER}<message>&#xZZ;</message>`],
    ['text between stanzas', `${HEADER}<presence/>hello<presence/>`],
    ['text right after the header', `${HEADER}x<presence/>`],
    ['text before the header', `hello${HEADER}`],
    ['a stanza before the header', "<message to='a@b'/>"],
    ['leading U+FEFF', `\uFEFF${HEADER}`],
    ['XML version 1.1', `<?xml version='1.1'?>${HEADER}`],
    [']]> in text', `${HEADER}<message>a]]>b</message>`],
  ])('%s → not-well-formed', (_name, input) => {
    expect(errorOf(input)).toBe('not-well-formed');
  });

  it.each([
    ['stream header in the wrong namespace', "<stream:stream xmlns:stream='http://wrong.example/'>"],
    ['stream header in no namespace', '<stream>'],
    ['wrong local name in the stream namespace', `<stream:streamz xmlns:stream='${NS_STREAM}'>`],
  ])('%s → invalid-namespace', (_name, input) => {
    expect(errorOf(input)).toBe('invalid-namespace');
  });

  it.each([
    ['ISO-8859-1', "<?xml version='1.0' encoding='ISO-8859-1'?>"],
    ['UTF-16', '<?xml version="1.0" encoding="UTF-16"?>'],
    ['UTF8 (misspelt)', "<?xml version='1.0' encoding='UTF8'?>"],
  ])('encoding %s → unsupported-encoding', (_name, decl) => {
    expect(errorOf(decl + HEADER)).toBe('unsupported-encoding');
  });

  it('invalid UTF-8 bytes → unsupported-encoding', () => {
    expect(errorOf([HEADER, Buffer.from([0x3c, 0x6d, 0xc3, 0x28])])).toBe('unsupported-encoding');
    expect(
      errorOf([
        Buffer.from(HEADER),
        Buffer.from('<message>'),
        Buffer.from([0xff]),
        Buffer.from('</message>'),
      ]),
    ).toBe('unsupported-encoding');
    // An overlong encoding of '<'.
    expect(errorOf([HEADER, Buffer.from([0xc0, 0xbc])])).toBe('unsupported-encoding');
  });

  it('invalid UTF-8 split across chunks → unsupported-encoding', () => {
    // A lead byte at the end of one chunk, an invalid continuation at the start of the next.
    expect(errorOf([HEADER, Buffer.from([0x3c, 0x6d, 0xe2]), Buffer.from([0x28, 0x3e])])).toBe(
      'unsupported-encoding',
    );
    // A surrogate encoded in UTF-8 (ED A0 80), one byte per chunk.
    expect(
      errorOf([HEADER, Buffer.from('<m>'), Buffer.from([0xed]), Buffer.from([0xa0]), Buffer.from([0x80])]),
    ).toBe('unsupported-encoding');
  });

  it('keeps the unfinished UTF-8 sequence of each stream apart (streams interleaved)', () => {
    const a = harness();
    const b = harness();
    const bytesA = Buffer.from(`${HEADER}<message><body>€ä😀</body></message>`);
    const bytesB = Buffer.from(`${HEADER}<message><body>ß中𝄞</body></message>`);
    for (let i = 0; i < Math.max(bytesA.length, bytesB.length); i++) {
      if (i < bytesA.length) a.parser.write(bytesA.subarray(i, i + 1));
      if (i < bytesB.length) b.parser.write(bytesB.subarray(i, i + 1));
    }
    expect(a.stanzas.map((e) => e.toString())).toEqual(['<message><body>€ä😀</body></message>']);
    expect(b.stanzas.map((e) => e.toString())).toEqual(['<message><body>ß中𝄞</body></message>']);
  });

  it('reports the first error only and ignores every later write', () => {
    const h = harness();
    h.parser.write(`${HEADER}<presence/><!-- one --><!-- two -->`);
    h.parser.write('<presence/></stream:stream>');
    h.parser.reset();
    h.parser.write(`${HEADER}<presence/>`);
    expect(h.events).toEqual([
      ['streamStart', HEADER_ATTRS, NAMESPACES],
      ['stanza', '<presence/>', 'jabber:client'],
      ['error', 'restricted-xml'],
    ]);
    expect(h.texts).toEqual(['comments are not allowed']);
  });

  it('an exception from an event handler is rethrown and leaves the parser dead', () => {
    const events: string[] = [];
    const parser = new StreamParser(
      {
        streamStart: () => events.push('start'),
        stanza: (el) => {
          events.push(el.name);
          if (el.name === 'boom') throw new Error('handler bug');
        },
        streamEnd: () => events.push('end'),
        error: (condition) => events.push(condition),
      },
      { maxStanzaBytes: 1000 },
    );
    expect(() => parser.write(`${HEADER}<a/><boom/><c/>`)).toThrow('handler bug');
    parser.write('<d/></stream:stream>');
    expect(events).toEqual(['start', 'a', 'boom']);
  });

  it('end() silences the parser', () => {
    const h = harness();
    h.parser.write(`${HEADER}<message>`);
    h.parser.end();
    h.parser.write('</message><presence/>');
    h.parser.reset();
    h.parser.write(HEADER);
    expect(h.events).toEqual([['streamStart', HEADER_ATTRS, NAMESPACES]]);
  });
});

describe('StreamParser: limits → policy-violation', () => {
  /** A depth-1 element of exactly `bytes` UTF-8 bytes, padded with `fill`. */
  function stanzaOf(bytes: number, fill = 'a'): string {
    const open = '<message><body>';
    const close = '</body></message>';
    const padding = bytes - Buffer.byteLength(open + close);
    const unit = Buffer.byteLength(fill);
    expect(padding % unit).toBe(0);
    return open + fill.repeat(padding / unit) + close;
  }

  it('accepts a stanza of exactly maxStanzaBytes and rejects one byte more', () => {
    expect(run([HEADER, stanzaOf(1000)], { maxStanzaBytes: 1000 }).map((e) => e[0])).toEqual([
      'streamStart',
      'stanza',
    ]);
    expect(errorOf([HEADER, stanzaOf(1001)], { maxStanzaBytes: 1000 })).toBe('policy-violation');
    // In one write with the header, and at any chunking.
    expect(errorOf(HEADER + stanzaOf(1001), { maxStanzaBytes: 1000 })).toBe('policy-violation');
    const input = HEADER + stanzaOf(1001) + '<presence/>';
    for (const size of [1, 7, 100, 999, 1000, 1001]) {
      const chunks: string[] = [];
      for (let i = 0; i < input.length; i += size) chunks.push(input.slice(i, i + size));
      expect(errorOf(chunks, { maxStanzaBytes: 1000 })).toBe('policy-violation');
    }
  });

  it('counts UTF-8 bytes, not characters', () => {
    // 'ä' is 2 bytes: 1002 bytes in fewer than 600 characters.
    const big = stanzaOf(1002, 'ä');
    expect(big.length).toBeLessThan(600);
    expect(errorOf([HEADER, Buffer.from(big)], { maxStanzaBytes: 1000 })).toBe('policy-violation');
    expect(errorOf([HEADER, stanzaOf(1005, '€😀')], { maxStanzaBytes: 1000 })).toBe('policy-violation');
    expect(run([HEADER, stanzaOf(1000, 'ä')], { maxStanzaBytes: 1000 }).map((e) => e[0])).toEqual([
      'streamStart',
      'stanza',
    ]);
  });

  it('cuts off an endless stanza fed in 1 KiB chunks as soon as it exceeds the limit', () => {
    const max = 262_144;
    const h = harness({ maxStanzaBytes: max });
    h.parser.write(HEADER);
    h.parser.write('<message><body>');
    let written = '<message><body>'.length;
    const kib = 'a'.repeat(1024);
    while (h.events.length === 1 && written < 10 * max) {
      h.parser.write(kib);
      written += kib.length;
    }
    expect(h.events[1]).toEqual(['error', 'policy-violation']);
    expect(written).toBeGreaterThan(max);
    expect(written).toBeLessThanOrEqual(max + 1024);
  });

  describe('with saxes instrumented', () => {
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it('stops reading an endless stanza inside one huge write after maxStanzaBytes + 1 bytes', () => {
      const max = 262_144;
      let fed = 0;
      const write = SaxesParser.prototype.write;
      vi.spyOn(SaxesParser.prototype, 'write').mockImplementation(function (this: SaxesParser, chunk) {
        fed += typeof chunk === 'string' ? chunk.length : 0;
        return write.call(this, chunk);
      });
      const h = harness({ maxStanzaBytes: max });
      const huge = HEADER + '<message><body>' + 'a'.repeat(8 * 1024 * 1024);
      h.parser.write(Buffer.from(huge));
      expect(h.events).toEqual([
        ['streamStart', HEADER_ATTRS, NAMESPACES],
        ['error', 'policy-violation'],
      ]);
      expect(fed).toBe(HEADER.length + max + 1);
    });
  });

  it('limits the stream header with its prolog, and whitespace between stanzas', () => {
    const longHeader = `<stream:stream xmlns:stream='${NS_STREAM}' to='${'a'.repeat(1000)}'>`;
    expect(errorOf(longHeader, { maxStanzaBytes: 1000 })).toBe('policy-violation');
    expect(errorOf(' '.repeat(2000), { maxStanzaBytes: 1000 })).toBe('policy-violation');
    const h = harness({ maxStanzaBytes: 1000 });
    h.parser.write(HEADER);
    for (let i = 0; i < 10; i++) h.parser.write(' '.repeat(99) + '<presence/>');
    expect(h.events).toHaveLength(11);
    h.parser.write(' '.repeat(1001));
    expect(h.events[11]).toEqual(['error', 'policy-violation']);
  });

  it('limits element depth (header 0, stanza 1)', () => {
    const nested = (depth: number) => '<a>'.repeat(depth) + '</a>'.repeat(depth);
    expect(run(HEADER + nested(5), { maxDepth: 5 }).map((e) => e[0])).toEqual(['streamStart', 'stanza']);
    expect(errorOf(HEADER + nested(6), { maxDepth: 5 })).toBe('policy-violation');
    expect(errorOf(HEADER + nested(65))).toBe('policy-violation');
    expect(run(HEADER + nested(64)).map((e) => e[0])).toEqual(['streamStart', 'stanza']);
  });

  it('limits attributes per element, declarations included', () => {
    const attrs = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}='${i}'`).join('');
    expect(run(`${HEADER}<message${attrs(4)}/>`, { maxAttributes: 4 }).map((e) => e[0])).toEqual([
      'streamStart',
      'stanza',
    ]);
    expect(errorOf(`${HEADER}<message${attrs(3)} xmlns:x='urn:x'/>`, { maxAttributes: 3 })).toBe(
      'policy-violation',
    );
    expect(errorOf(`${HEADER}<message><body${attrs(65)}/></message>`)).toBe('policy-violation');
    expect(errorOf(HEADER, { maxAttributes: 3 })).toBe('policy-violation');
  });
});

describe('StreamParser: memory of an idle stream', () => {
  /** The saxes instance inside, with the fields StreamParser shares or releases (saxes 6 internals). */
  const saxesOf = (parser: StreamParser) =>
    (parser as unknown as { parser: Record<string, unknown> & { tags: { attributes: object }[] } }).parser;

  it('keeps neither its last stanza nor the header attributes, and shares what every parser has alike', () => {
    const a = harness();
    const b = harness();
    for (const h of [a, b]) {
      h.parser.write(Buffer.from(HEADER));
      h.parser.write(
        Buffer.from("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
      );
    }
    expect(a.events.at(-1)).toEqual([
      'stanza',
      "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
      'jabber:client',
    ]);
    const saxes = saxesOf(a.parser);
    // Between stanzas saxes is in its S_TEXT state (13), pointing at the open stream header, not at the <iq>.
    expect(saxes['state']).toBe(13);
    expect(saxes.tags).toHaveLength(1);
    expect(saxes['tag']).toBe(saxes.tags[0]);
    expect(saxes.tags[0]!.attributes).toEqual({});
    expect(saxes['chunk']).toBe('');
    expect(saxes['stateTable']).toBe(saxesOf(b.parser)['stateTable']);
    expect(saxes['ns']).toBe(saxesOf(b.parser)['ns']);
    // The stream still works as before: prefixes of the header resolve, and it closes.
    a.parser.write(
      "<stream:error><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
    );
    expect(a.events.slice(-2)).toEqual([
      [
        'stanza',
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><x xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        NS_STREAM,
      ],
      ['streamEnd'],
    ]);
  });
});

describe('the outcome does not depend on how the bytes are chunked', () => {
  /** Every event and error (with its text) for `bytes` written in chunks of the given sizes, in turn. */
  function outcome(bytes: Buffer, sizes: number[], maxStanzaBytes: number): [Event[], string[]] {
    const h = harness({ maxStanzaBytes }, ['r']);
    for (let i = 0, k = 0; i < bytes.length; k++) {
      const size = sizes[k % sizes.length]!;
      h.parser.write(bytes.subarray(i, i + size));
      i += size;
    }
    return [h.events, h.texts];
  }
  const whole = (input: string, max: number) => outcome(Buffer.from(input), [Infinity], max);
  const bytewise = (input: string, max: number) => outcome(Buffer.from(input), [1], max);
  /** 84 bytes: fits a limit of 100. */
  const SHORT_HEADER = `<stream:stream xmlns='jabber:client' xmlns:stream='${NS_STREAM}'>`;

  it('"é"×60 + "<a/>" with maxStanzaBytes 100: the same error whole and byte by byte', () => {
    // Before the header: text outside the root, at the first "é" (the position is not part of the text).
    expect(whole('é'.repeat(60) + '<a/>', 100)).toEqual([
      [['error', 'not-well-formed']],
      ['text outside the stream'],
    ]);
    expect(bytewise('é'.repeat(60) + '<a/>', 100)).toEqual(whole('é'.repeat(60) + '<a/>', 100));
    // Between stanzas: 120 bytes of text; the limit is reached at the 51st "é", before the "<" that shows the
    // text is not whitespace.
    const input = SHORT_HEADER + 'é'.repeat(60) + '<a/>';
    expect(whole(input, 100)).toEqual([
      [
        ['streamStart', { xmlns: 'jabber:client', 'xmlns:stream': NS_STREAM }, NAMESPACES],
        ['error', 'policy-violation'],
      ],
      ['more than 100 bytes outside any stanza'],
    ]);
    expect(bytewise(input, 100)).toEqual(whole(input, 100));
  });

  it('a syntax error within the limit wins over the limit, however chunked', () => {
    // '&bad;' ends at byte 94 of the stanza, which would take 118.
    const input = SHORT_HEADER + '<m>' + 'é'.repeat(43) + '&bad;' + 'x'.repeat(20) + '</m>';
    const expected = whole(input, 100);
    expect(expected[0].at(-1)).toEqual(['error', 'restricted-xml']);
    expect(bytewise(input, 100)).toEqual(expected);
  });

  it('gives the same events and error for random inputs and random chunkings', () => {
    const header = fc.constantFrom(SHORT_HEADER, "<?xml version='1.0'?>" + SHORT_HEADER, '', ' ');
    const atom = fc.constantFrom(
      '<a>',
      '</a>',
      '<a/>',
      '<r/>',
      "<b x='1'>",
      '</b>',
      'é',
      '€',
      '😀',
      'x',
      ' ',
      '\n',
      '&amp;',
      '&bad;',
      '<!--',
      '-->',
      '<?pi?>',
      '<!DOCTYPE x>',
      '<![CDATA[',
      ']]>',
      '</stream:stream>',
      HEADER,
      '<',
      '>',
      "'",
      '\u0000',
      '\u200b',
      // Runs of multi-byte characters, where a limit falls inside a chunk.
      'é'.repeat(20),
      '😀'.repeat(8),
      '<c>' + 'ä'.repeat(30) + '</c>',
    );
    fc.assert(
      fc.property(
        header,
        fc.array(atom, { maxLength: 40 }),
        fc.integer({ min: 84, max: 160 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }),
        (start, atoms, max, sizes) => {
          const bytes = Buffer.from(start + atoms.join(''));
          // The events with the error's condition; its text is a diagnostic that may name another problem of
          // the same bytes, seen first where the input was cut.
          expect(outcome(bytes, sizes, max)[0]).toEqual(outcome(bytes, [bytes.length || 1], max)[0]);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
