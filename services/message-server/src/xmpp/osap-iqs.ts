/**
 * OSAP devices over XMPP (decision 0027, namespace urn:irsp:osap:0, docs/client-protocol.md): a related account
 * reads a device's last reported attributes with an iq get to its bare JID, answered by the server; an operation
 * (iq set with `<operate>`) to its bare JID goes to its DAS session, whose device answers it.
 */
import { xml, type Element } from '@irsp/xmpp';
import type { OsapAttributes } from '../osap/attributes.js';
import type { Delivery, Origin } from './delivery.js';

export const OSAP_NS = 'urn:irsp:osap:0';

/** The resources of DAS sessions (das-server.ts names them so, on every message server of the AS). */
export const isDasResource = (resource: string): boolean => resource.startsWith('osap-');

export const isAttributesQuery = (stanza: Element): boolean =>
  stanza.name === 'iq' && stanza.attrs.type === 'get' && stanza.getChild('attributes', OSAP_NS) !== undefined;

export const isOperate = (stanza: Element): boolean =>
  stanza.name === 'iq' && stanza.attrs.type === 'set' && stanza.getChild('operate', OSAP_NS) !== undefined;

/** The device's last reported attributes, by name; none for a device that never reported any. */
export async function answerAttributes(
  delivery: Delivery,
  attributes: OsapAttributes,
  from: Origin,
  stanza: Element,
  device: string,
): Promise<void> {
  const reported = await attributes.read(device);
  const reply = delivery.result(stanza);
  reply.append(
    xml(
      'attributes',
      { xmlns: OSAP_NS },
      ...reported.map((a) =>
        xml('attribute', { name: a.name, reported: a.reportedAt.toISOString() }, a.value),
      ),
    ),
  );
  from.send(reply);
}
