// The parts of @xmpp/client 0.14 (no types of its own) that the simulators and the tests use.
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';

  export interface XmlElement {
    name: string;
    attrs: Record<string, string>;
    children: (XmlElement | string)[];
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): XmlElement | undefined;
    getChildren(name: string, xmlns?: string): XmlElement[];
    getChildText(name: string, xmlns?: string): string | null;
    toString(): string;
  }

  export interface Client extends EventEmitter {
    jid: { toString(): string } | null;
    reconnect: { stop(): void };
    iqCaller: { request(stanza: XmlElement, timeout?: number): Promise<XmlElement> };
    iqCallee: {
      get(
        xmlns: string,
        name: string,
        handler: (context: { stanza: XmlElement }) => XmlElement | Promise<XmlElement>,
      ): void;
    };
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(...stanzas: XmlElement[]): Promise<void>;
    /** Writes raw XML to the stream as it is (several stanzas in one write). */
    write(xml: string): Promise<void>;
  }

  export function client(options: Record<string, unknown>): Client;
  export function xml(
    name: string,
    attrs?: Record<string, string | undefined>,
    ...children: (XmlElement | string)[]
  ): XmlElement;
}
