/** A few DOM helpers: elements are built with text nodes only, so nothing received is ever parsed as HTML. */
type Child = Node | string | false | undefined;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  for (const child of children) if (child !== false && child !== undefined) element.append(child);
  return element;
}

/** A labelled input; `name` is its form field. */
export function field(label: string, name: string, attrs: Record<string, string> = {}): HTMLLabelElement {
  return h('label', {}, h('span', {}, label), h('input', { name, required: '', ...attrs }));
}

/** The value of a form's field. */
export function value(form: HTMLFormElement, name: string): string {
  const input = form.elements.namedItem(name);
  return input instanceof HTMLInputElement ? input.value.trim() : '';
}

/** An instant as people read it here: `2026-12-07 18:00:00 UTC`. */
export function when(timestamp: string): string {
  return `${timestamp.replace('T', ' ').replace(/(\.\d+)?Z$/, '')} UTC`;
}

/** The value of a `datetime-local` input (read as UTC) for an instant. */
export function utcInputValue(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}
