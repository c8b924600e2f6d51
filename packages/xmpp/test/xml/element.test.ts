import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Element, escapeAttr, escapeText, xml, type Node } from '../../src/xml/element.js';
import { parseElement } from '../../src/xml/stream-parser.js';

/** The tree the parser gives back for a built tree: adjacent text merged, empty text dropped, xmlns resolved. */
function expectedAfterParse(el: Element, inherited: string | undefined = undefined): Element {
  const ns = el.attrs['xmlns'] ?? inherited;
  const children: Node[] = [];
  for (const child of el.children) {
    if (typeof child !== 'string') {
      children.push(expectedAfterParse(child, ns));
    } else if (child !== '') {
      const last = children[children.length - 1];
      if (typeof last === 'string') children[children.length - 1] = last + child;
      else children.push(child);
    }
  }
  const copy = new Element(el.name, { ...el.attrs }, children);
  copy.xmlns = el.name.startsWith('p:') ? 'urn:p' : ns;
  return copy;
}

describe('xml() builder', () => {
  it('skips undefined attributes and falsy children, takes xmlns from the attributes', () => {
    const el = xml(
      'message',
      { to: 'juliet@capulet.example', from: undefined, xmlns: 'jabber:client' },
      undefined,
      xml('body', {}, 'hi'),
      null,
      false,
      '',
      'tail',
    );
    expect(el.name).toBe('message');
    expect(el.attrs).toEqual({ to: 'juliet@capulet.example', xmlns: 'jabber:client' });
    expect(Object.keys(el.attrs)).toEqual(['to', 'xmlns']);
    expect(el.xmlns).toBe('jabber:client');
    expect(el.children).toHaveLength(2);
    expect(el.children[1]).toBe('tail');
    expect((el.children[0] as Element).xmlns).toBeUndefined();
    expect(el.toString()).toBe(
      "<message to='juliet@capulet.example' xmlns='jabber:client'><body>hi</body>tail</message>",
    );
  });

  it('builds empty elements as self-closing tags', () => {
    expect(xml('presence').toString()).toBe('<presence/>');
    expect(new Element('a', { b: 'c' }).toString()).toBe("<a b='c'/>");
  });
});

describe('escaping', () => {
  it('escapes text: & < > and CR', () => {
    expect(escapeText('a & b < c > d ]]> \r\n\t"\'')).toBe('a &amp; b &lt; c &gt; d ]]&gt; &#13;\n\t"\'');
    expect(escapeText('plain')).toBe('plain');
  });

  it('escapes attribute values: & < > " \' TAB LF CR', () => {
    expect(escapeAttr(`a&b<c>d"e'f\tg\nh\ri`)).toBe('a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i');
    expect(escapeAttr('plain value')).toBe('plain value');
  });

  it('replaces characters XML cannot carry with U+FFFD and keeps astral characters', () => {
    expect(escapeText('a\u0000b\u0008c\u000bd\u001fe\ufffef\uffff')).toBe(
      'a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffd',
    );
    expect(escapeText('x\ud800y\udc00z')).toBe('x\ufffdy\ufffdz');
    expect(escapeText('😀 \u{10ffff}')).toBe('😀 \u{10ffff}');
    expect(escapeAttr('\u0001😀\udfff')).toBe('\ufffd😀\ufffd');
  });

  it('serialises escaped text and attributes', () => {
    const el = xml('body', { 'xml:lang': `"en" & 'fr'` }, '1 < 2 & 3 > 2');
    expect(el.toString()).toBe(
      "<body xml:lang='&quot;en&quot; &amp; &apos;fr&apos;'>1 &lt; 2 &amp; 3 &gt; 2</body>",
    );
  });
});

describe('Element lookups', () => {
  const iq = xml(
    'iq',
    { xmlns: 'jabber:client', type: 'result' },
    xml('query', { xmlns: 'jabber:iq:roster' }, xml('item', { jid: 'a@b' }), xml('item', { jid: 'c@d' })),
    xml('bind', { xmlns: 'urn:ietf:params:xml:ns:xmpp-bind' }, xml('jid', {}, 'a@b/', 'r')),
    'text',
    xml('body', {}, 'inherits'),
    xml('stream:error', { 'xmlns:stream': 'http://etherx.jabber.org/streams' }),
  );

  it('getChild by local name and resolved namespace', () => {
    expect(iq.getChild('query')?.attrs['xmlns']).toBe('jabber:iq:roster');
    expect(iq.getChild('query', 'jabber:iq:roster')?.name).toBe('query');
    expect(iq.getChild('query', 'jabber:client')).toBeUndefined();
    expect(iq.getChild('missing')).toBeUndefined();
    // A built child without xmlns inherits the parent's.
    expect(iq.getChild('body', 'jabber:client')?.text()).toBe('inherits');
    // Prefixed names match by local name.
    expect(iq.getChild('error')?.name).toBe('stream:error');
    expect(iq.getChild('stream:error')?.name).toBe('stream:error');
    expect(iq.getChild('rror')).toBeUndefined();
  });

  it('getChildren, getChildElements, getChildText, text', () => {
    const query = iq.getChild('query')!;
    expect(query.getChildren('item').map((i) => i.attrs['jid'])).toEqual(['a@b', 'c@d']);
    expect(query.getChildren('item', 'other')).toEqual([]);
    expect(iq.getChildElements().map((e) => e.name)).toEqual(['query', 'bind', 'body', 'stream:error']);
    expect(iq.getChild('bind')!.getChildText('jid')).toBe('a@b/r');
    expect(iq.getChildText('nothing')).toBeUndefined();
    expect(iq.text()).toBe('text');
    expect(xml('empty').text()).toBe('');
  });

  it('getChild uses parsed namespaces', () => {
    const parsed = parseElement(
      "<iq xmlns='jabber:client'><query xmlns='jabber:iq:roster'/><p:x xmlns:p='urn:p'/><x/></iq>",
    );
    expect(parsed.getChild('query', 'jabber:iq:roster')).toBeDefined();
    expect(parsed.getChild('x', 'urn:p')?.name).toBe('p:x');
    expect(parsed.getChildren('x', 'jabber:client').map((e) => e.name)).toEqual(['x']);
  });

  it('append returns the element; clone is deep', () => {
    const el = xml('message', { to: 'a@b' });
    expect(el.append(xml('body', {}, 'one'), 'two')).toBe(el);
    const copy = el.clone();
    expect(copy).toEqual(el);
    expect(copy).not.toBe(el);
    copy.attrs['to'] = 'c@d';
    (copy.children[0] as Element).children.push('!');
    expect(el.toString()).toBe("<message to='a@b'><body>one</body>two</message>");
    expect(copy.toString()).toBe("<message to='c@d'><body>one!</body>two</message>");
  });
});

// Characters XML 1.0 can carry (§2.2), weighted towards the ones that need escaping.
const xmlChar = fc.oneof(
  { arbitrary: fc.constantFrom('&', '<', '>', '"', "'", '\t', '\n', '\r', '\r\n', ']]>', ' '), weight: 3 },
  { arbitrary: fc.integer({ min: 0x20, max: 0xd7ff }).map((c) => String.fromCodePoint(c)), weight: 4 },
  { arbitrary: fc.integer({ min: 0xe000, max: 0xfffd }).map((c) => String.fromCodePoint(c)), weight: 1 },
  { arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)), weight: 1 },
);
const xmlString = fc.string({ unit: xmlChar, maxLength: 30 });
const attrName = fc.constantFrom(
  'to',
  'from',
  'id',
  'type',
  'a-b',
  '_c',
  'd.e',
  'élan',
  'xml:lang',
  'p:attr',
);
const elementName = fc.constantFrom('message', 'body', 'x', 'ünï', 'p:item');
const namespace = fc.constantFrom('jabber:client', 'urn:example:é', 'http://example.com/?a=1&b=2');

const tree: fc.Arbitrary<Element> = fc.letrec<{ element: Element; node: Node }>((tie) => ({
  element: fc
    .record({
      name: elementName,
      attrs: fc.dictionary(attrName, xmlString, { maxKeys: 4 }),
      xmlns: fc.option(namespace, { nil: undefined }),
      children: fc.array(tie('node'), { maxLength: 4 }),
    })
    .map(({ name, attrs, xmlns, children }) => xml(name, { ...attrs, xmlns }, ...children)),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, xmlString, tie('element')),
})).element;

/** The `p` prefix is declared on every root so that `p:` names and attributes are bound. */
const root = fc
  .tuple(tree, namespace)
  .map(([el, ns]) => new Element(el.name, { ...el.attrs, xmlns: ns, 'xmlns:p': 'urn:p' }, el.children));

describe('parseElement', () => {
  it('parses exactly one element, with xmlns undefined when there is no namespace', () => {
    const el = parseElement("  <a b='1'><c xmlns='urn:c'/></a>\n");
    expect(el.xmlns).toBeUndefined();
    expect(el.getChild('c')!.xmlns).toBe('urn:c');
    expect(el.toString()).toBe("<a b='1'><c xmlns='urn:c'/></a>");
  });

  it('throws on anything else', () => {
    expect(() => parseElement('<a/><b/>')).toThrow('expected one element, got 2');
    expect(() => parseElement('text')).toThrow('not-well-formed: text between stanzas must be whitespace');
    expect(() => parseElement('<a><!-- c --></a>')).toThrow('restricted-xml: comments are not allowed');
    expect(() => parseElement(' ')).toThrow('expected one element, got 0');
    expect(() => parseElement('<a>')).toThrow('not-well-formed');
    expect(parseElement(`<a>${'x'.repeat(93)}</a>`, { maxStanzaBytes: 100 }).text()).toHaveLength(93);
    expect(() => parseElement(`<a>${'x'.repeat(94)}</a>`, { maxStanzaBytes: 100 })).toThrow(
      'policy-violation: stanza larger than 100 bytes',
    );
  });
});

describe('serialisation round trip', () => {
  it('parse(serialise(x)) equals x for a hand-written stanza', () => {
    const el = xml(
      'message',
      { xmlns: 'jabber:client', to: 'juliet@capulet.example/balcony', 'xml:lang': 'en', id: `a"b'c` },
      xml('body', {}, 'Art thou not Romeo, & a Montague? <ä € 😀>\r\n\tend'),
      xml('x', { xmlns: 'jabber:x:oob' }, xml('url', {}, 'https://e.example/?a=1&b=2')),
    );
    const text = el.toString();
    expect(text).toBe(
      "<message xmlns='jabber:client' to='juliet@capulet.example/balcony' xml:lang='en' id='a&quot;b&apos;c'>" +
        '<body>Art thou not Romeo, &amp; a Montague? &lt;ä € 😀&gt;&#13;\n\tend</body>' +
        "<x xmlns='jabber:x:oob'><url>https://e.example/?a=1&amp;b=2</url></x></message>",
    );
    const parsed = parseElement(text);
    expect(parsed).toEqual(expectedAfterParse(el));
    expect(parsed.getChild('body')!.text()).toBe('Art thou not Romeo, & a Montague? <ä € 😀>\r\n\tend');
    expect(parsed.getChild('x')!.getChild('url')!.xmlns).toBe('jabber:x:oob');
  });

  it('parse(serialise(x)) deep-equals x for arbitrary trees, text and attribute values', () => {
    fc.assert(
      fc.property(root, (el) => {
        const parsed = parseElement(el.toString());
        expect(parsed).toEqual(expectedAfterParse(el));
        expect(parsed.toString()).toBe(expectedAfterParse(el).toString());
      }),
      { numRuns: 500 },
    );
  });

  it('any JavaScript string serialises to well-formed XML, with U+FFFD for what XML cannot carry', () => {
    const anyString = fc.string({
      unit: fc.oneof(
        fc.constantFrom('\ud800', '\udfff', '\u0000', '\u0019', '\ufffe'),
        fc.string({ unit: 'binary' }),
      ),
      maxLength: 20,
    });
    // The characters XML 1.0 cannot carry (control characters are the point here).
    // eslint-disable-next-line no-control-regex
    const invalid = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udfff]/gu;
    fc.assert(
      fc.property(anyString, anyString, (text, value) => {
        const parsed = parseElement(xml('a', { v: value }, text).toString());
        expect(parsed.attrs).toEqual({ v: value.replace(invalid, '\ufffd') });
        expect(parsed.text()).toBe(text.replace(invalid, '\ufffd'));
      }),
      { numRuns: 500 },
    );
  });
});
