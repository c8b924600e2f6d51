import { describe, expect, it } from 'vitest';
import {
  StanzaSplitter,
  attribute,
  bodyText,
  tagAttributes,
  type StreamEvent,
} from '../src/load/splitter.js';

function split(chunks: (string | Buffer)[]): StreamEvent[] {
  const events: StreamEvent[] = [];
  const splitter = new StanzaSplitter((e) => events.push(e));
  for (const chunk of chunks) splitter.push(chunk);
  return events;
}

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='as1.irsp.test' version='1.0'>`;
const FEATURES = `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`;
const MESSAGE = `<message from='a@d/r' to='b@d/r' id='m1'><body>0.1|a &gt; b</body></message>`;

describe('StanzaSplitter', () => {
  const whole: StreamEvent[] = [
    {
      kind: 'open',
      attrs: {
        xmlns: 'jabber:client',
        'xmlns:stream': 'http://etherx.jabber.org/streams',
        id: 's1',
        from: 'as1.irsp.test',
        version: '1.0',
      },
    },
    { kind: 'stanza', name: 'stream:features', xml: FEATURES },
    { kind: 'stanza', name: 'message', xml: MESSAGE },
    { kind: 'close' },
  ];

  it('splits a stream into its header, top-level stanzas and end', () => {
    expect(split([HEADER + FEATURES + MESSAGE + '</stream:stream>'])).toEqual(whole);
  });

  it('gives the same events whatever the chunking, one character at a time included', () => {
    const text = HEADER + FEATURES + MESSAGE + '</stream:stream>';
    expect(split(text.split(''))).toEqual(whole);
    expect(split([text.slice(0, 150), text.slice(150, 151), text.slice(151)])).toEqual(whole);
  });

  it('keeps a UTF-8 character split across chunks intact', () => {
    const bytes = Buffer.from(`${HEADER}<message><body>é€😀</body></message>`);
    const at = bytes.indexOf(Buffer.from('€')) + 1;
    const events = split([bytes.subarray(0, at), bytes.subarray(at, at + 1), bytes.subarray(at + 1)]);
    expect(events[1]).toEqual({
      kind: 'stanza',
      name: 'message',
      xml: '<message><body>é€😀</body></message>',
    });
  });

  it('drops whitespace keep-alives between stanzas', () => {
    const events = split([HEADER, ' ', '\n \t', '<presence/>', '  ', '<iq type="result" id="x"/>']);
    expect(events.slice(1)).toEqual([
      { kind: 'stanza', name: 'presence', xml: '<presence/>' },
      { kind: 'stanza', name: 'iq', xml: '<iq type="result" id="x"/>' },
    ]);
  });

  it('is not fooled by > and / in attribute values or by nested elements of the same name', () => {
    const stanza = `<message id='a>b/'><x a="/>"><x/></x><body>t</body></message>`;
    expect(split([HEADER, stanza.slice(0, 20), stanza.slice(20)])[1]).toEqual({
      kind: 'stanza',
      name: 'message',
      xml: stanza,
    });
  });
});

describe('attribute helpers', () => {
  it('reads attributes of the first tag only, unescaped, in either quote', () => {
    expect(
      tagAttributes(`<item jid="a@d" subscription='both' name='a &amp; b'><x jid='no'/></item>`),
    ).toEqual({
      jid: 'a@d',
      subscription: 'both',
      name: 'a & b',
    });
    expect(attribute(`<iq type="result" id='q1'><query id='inner'/></iq>`, 'id')).toBe('q1');
    expect(attribute(`<iq type='result'><query id='inner'/></iq>`, 'id')).toBeUndefined();
  });

  it('finds the body text', () => {
    expect(bodyText(MESSAGE)).toBe('0.1|a &gt; b');
    expect(bodyText(`<message><body xml:lang='en'>hi</body></message>`)).toBe('hi');
    expect(bodyText(`<message><body/></message>`)).toBe('');
    expect(bodyText(`<presence/>`)).toBeUndefined();
  });
});
