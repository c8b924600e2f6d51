/**
 * A small, fast XML element model for stanzas (RFC 6120 §4.1, §8).
 *
 * - `name` is the qualified name as written (`message`, `stream:error`); lookups use the local name.
 * - `attrs` holds exactly the attributes to serialise, namespace declarations (`xmlns`, `xmlns:p`) included.
 * - `xmlns` is the element's resolved namespace URI: set by the parser, or taken from `attrs.xmlns` when built.
 *   Serialisation never adds declarations: an element without its own `xmlns` attribute inherits the default
 *   namespace of wherever it is written.
 */

export type Node = Element | string;

export class Element {
  /** Resolved namespace URI (set by the parser; for built elements, from attrs.xmlns or inherited on serialisation). */
  xmlns: string | undefined;

  constructor(
    public name: string,
    public attrs: Record<string, string> = {},
    public children: Node[] = [],
  ) {
    this.xmlns = attrs['xmlns'];
  }

  /** The name without its prefix (`error` for `stream:error`). */
  get local(): string {
    const colon = this.name.indexOf(':');
    return colon === -1 ? this.name : this.name.slice(colon + 1);
  }

  /**
   * First child element with this local name and, when given, this namespace. A child without a resolved
   * namespace (a built element with no `xmlns` attribute and no prefix) inherits this element's.
   */
  getChild(name: string, xmlns?: string): Element | undefined {
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      if (typeof child !== 'string' && matches(this, child, name, xmlns)) return child;
    }
    return undefined;
  }

  getChildren(name: string, xmlns?: string): Element[] {
    const found: Element[] = [];
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      if (typeof child !== 'string' && matches(this, child, name, xmlns)) found.push(child);
    }
    return found;
  }

  getChildElements(): Element[] {
    const found: Element[] = [];
    const children = this.children;
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      if (typeof child !== 'string') found.push(child);
    }
    return found;
  }

  getChildText(name: string, xmlns?: string): string | undefined {
    return this.getChild(name, xmlns)?.text();
  }

  /** Concatenated direct text children. */
  text(): string {
    const children = this.children;
    if (children.length === 1 && typeof children[0] === 'string') return children[0];
    let text = '';
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      if (typeof child === 'string') text += child;
    }
    return text;
  }

  append(...nodes: Node[]): this {
    for (const node of nodes) this.children.push(node);
    return this;
  }

  toString(): string {
    return serialise(this);
  }

  clone(): Element {
    const copy = new Element(this.name, { ...this.attrs }, this.children.map(cloneNode));
    copy.xmlns = this.xmlns;
    return copy;
  }
}

function cloneNode(node: Node): Node {
  return typeof node === 'string' ? node : node.clone();
}

function matches(parent: Element, child: Element, name: string, xmlns: string | undefined): boolean {
  const childName = child.name;
  if (childName !== name) {
    // Prefixed name: compare the local part without allocating.
    const colon = childName.indexOf(':');
    if (
      colon === -1 ||
      childName.length - colon - 1 !== name.length ||
      !childName.endsWith(name) // length checked, so this compares exactly the local part
    ) {
      return false;
    }
  }
  if (xmlns === undefined) return true;
  const ns = child.xmlns ?? (childName.indexOf(':') === -1 ? parent.xmlns : undefined);
  return ns === xmlns;
}

/** Builder: `xml('message', { to: 'a@b' }, xml('body', {}, 'hi'))`. Undefined attributes and falsy children are skipped. */
export function xml(
  name: string,
  attrs?: Record<string, string | undefined>,
  ...children: (Node | undefined | null | false)[]
): Element {
  const clean: Record<string, string> = {};
  if (attrs !== undefined) {
    for (const key in attrs) {
      const value = attrs[key];
      if (value !== undefined) clean[key] = value;
    }
  }
  const nodes: Node[] = [];
  for (let i = 0; i < children.length; i++) {
    const child = children[i];
    if (child) nodes.push(child);
  }
  return new Element(name, clean, nodes);
}

// Characters that are not XML 1.0 `Char`s (§2.2) cannot be written at all, not even as character references:
// C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF and (with the `u` flag: only unpaired) surrogates. They are
// replaced with U+FFFD so that a bad string from our own code cannot produce a stream the peer must reject.
const INVALID = '\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\uFFFE\\uFFFF\\uD800-\\uDFFF';
// Text: & and < must be escaped, > too (`]]>`); CR would be read back as LF (XML §2.11), so it is a reference.
const TEXT_TEST = new RegExp(`[&<>\\r${INVALID}]`, 'u');
const TEXT_ALL = new RegExp(`[&<>\\r${INVALID}]`, 'gu');
// Attribute values: also both quotes, and TAB/LF/CR, which attribute-value normalisation (§3.3.3) would turn
// into spaces.
const ATTR_TEST = new RegExp(`[&<>"'\\t\\n\\r${INVALID}]`, 'u');
const ATTR_ALL = new RegExp(`[&<>"'\\t\\n\\r${INVALID}]`, 'gu');

function replaceChar(c: string): string {
  switch (c) {
    case '&':
      return '&amp;';
    case '<':
      return '&lt;';
    case '>':
      return '&gt;';
    case '"':
      return '&quot;';
    case "'":
      return '&apos;';
    case '\t':
      return '&#9;';
    case '\n':
      return '&#10;';
    case '\r':
      return '&#13;';
    default:
      return '\uFFFD';
  }
}

/** Escapes character data: `&`, `<`, `>`, CR; characters XML cannot carry become U+FFFD. */
export function escapeText(s: string): string {
  return TEXT_TEST.test(s) ? s.replace(TEXT_ALL, replaceChar) : s;
}

/** Escapes an attribute value: `&`, `<`, `>`, `"`, `'`, TAB, LF, CR; characters XML cannot carry become U+FFFD. */
export function escapeAttr(s: string): string {
  return ATTR_TEST.test(s) ? s.replace(ATTR_ALL, replaceChar) : s;
}

function serialise(el: Element): string {
  let out = '<' + el.name;
  const attrs = el.attrs;
  for (const key in attrs) {
    const value = attrs[key];
    if (value !== undefined) out += ' ' + key + "='" + escapeAttr(value) + "'";
  }
  const children = el.children;
  const n = children.length;
  if (n === 0) return out + '/>';
  out += '>';
  for (let i = 0; i < n; i++) {
    const child = children[i]!;
    out += typeof child === 'string' ? escapeText(child) : serialise(child);
  }
  return out + '</' + el.name + '>';
}
