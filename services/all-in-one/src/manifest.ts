/** `.irsp/manifest.json`: every endpoint and credential a client of the running IRSP needs. */
import {
  caCertPath,
  xmppWebsocketUrl,
  type MessageServerConfig,
  type OsapConfig,
  type Topology,
} from '@irsp/config';

/**
 * `operator`: the admin API's credentials `pnpm start` created (the manifest is mode 0600, as the topology); absent
 * when the topology was written by someone else, who knows its operators' passwords.
 */
export function buildManifest(topology: Topology, operator?: { name: string; password: string }) {
  return {
    caCert: caCertPath(topology),
    ...(operator ? { operator } : {}),
    // The operator console (decision 0023), served by the account server.
    accountServer: { url: topology.accountServer.url, consoleUrl: `${topology.accountServer.url}/console` },
    autonomousSystems: topology.autonomousSystems.map((as) => ({
      domain: as.domain,
      messageServers: as.messageServers.map((ms) => ({
        id: ms.id,
        url: ms.url,
        pushUri: ms.pushUri,
        ...(ms.xmpp ? { xmpp: xmppEndpoints(ms.xmpp, xmppWebsocketUrl(ms)) } : {}),
        ...(ms.osap ? { osap: osapEndpoints(ms.osap) } : {}),
        credentials: {
          accountServer: ms.credentials.accountServer,
          toAccountServer: ms.credentials.toAccountServer,
        },
      })),
      applicationServers: as.applicationServers.map((app) => ({
        name: app.name,
        peers: (app.peers ?? []).map((peer) => ({ name: peer.name, as: peer.as })),
        url: app.url,
        jid: app.jid,
        credentials: app.credentials,
        serviceUris: app.serviceUris,
      })),
    })),
  };
}

export type Manifest = ReturnType<typeof buildManifest>;

/** The XMPP ports, and the URL a WebSocket client (RFC 7395) connects to; the dialback secret stays out. */
function xmppEndpoints(
  { dialbackSecret: _secret, ...xmpp }: XmppConfig,
  websocketUrl: string | undefined,
): Endpoints & { websocketUrl?: string } {
  return websocketUrl === undefined ? xmpp : { ...xmpp, websocketUrl };
}

/**
 * What a device needs besides its serial number and code: where the LBS is, what it negotiates, the share key's
 * rounds; the DAS instances the LBS sends devices to, and the one this message server runs (`dasListener`).
 */
function osapEndpoints(osap: OsapConfig) {
  return {
    lbs: { host: osap.lbs.host, port: osap.lbs.port },
    protocol: osap.protocol,
    shareKeyIterations: osap.shareKeyIterations,
    das: osap.das.map(({ host, port }) => ({ host, port })),
    ...(osap.dasListener
      ? { dasListener: { host: osap.dasListener.host, port: osap.dasListener.port } }
      : {}),
  };
}

type XmppConfig = NonNullable<MessageServerConfig['xmpp']>;
type Endpoints = Omit<XmppConfig, 'dialbackSecret'>;
