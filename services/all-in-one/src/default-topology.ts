/**
 * The topology `pnpm start` runs when none is given: the account server and two ASs (`as1.irsp.test`,
 * `as2.irsp.test`), each with one message server and two application servers (`default` and `smartlock`, so that
 * Messages 14–15 can be tried within an AS), the two `default`s peers of each other (the signed exchange across
 * ASs, clause 8.6), on loopback, the message server of AS1 with an OSAP LBS (decision 0020), with credentials and
 * keys made at random on first start and kept in `.irsp/irsp.yaml` (mode 0600) so that clients keep working, and one
 * operator of the admin API.
 */
import { join } from 'node:path';
import { randomSecret } from '@irsp/credentials';
import { stringify } from 'yaml';

export interface DefaultPorts {
  accountServer: number;
  /**
   * Per AS (in order): admin API and XMPP (STARTTLS, direct TLS, WebSocket, s2s) of its message server, its
   * application servers `default` and `smartlock`.
   */
  autonomousSystems: {
    messageServer: number;
    c2s: number;
    directTls: number;
    websocket: number;
    s2s: number;
    applicationServer: number;
    smartlock: number;
    /** The OSAP LBS of its message server and the one DAS it names, which the same message server runs. */
    osap?: { lbs: number; das: number };
  }[];
}

export const DEFAULT_PORTS: DefaultPorts = {
  accountServer: 8443,
  autonomousSystems: [
    {
      messageServer: 8543,
      c2s: 5222,
      directTls: 5223,
      websocket: 5280,
      s2s: 5269,
      applicationServer: 8643,
      smartlock: 8645,
      osap: { lbs: 8990, das: 8883 },
    },
    {
      messageServer: 8544,
      c2s: 5322,
      directTls: 5323,
      websocket: 5380,
      s2s: 5369,
      applicationServer: 8644,
      smartlock: 8646,
    },
  ],
};

const SERVICE_URIS = {
  userUpload: '/user/upload',
  deviceUpload: '/device/upload',
  deviceStatus: '/device/status',
  exchange: '/exchange',
};

/** The operator of the admin API `pnpm start` creates: its name and password hash go into the topology. */
export interface DefaultOperator {
  name: string;
  passwordHash: string;
}

/** `stateDir`: where `pnpm start` keeps its state (IRSP_STATE_DIR); the CA and the databases go under it too. */
export function defaultTopologyYaml(
  operator: DefaultOperator,
  ports: DefaultPorts = DEFAULT_PORTS,
  host = '127.0.0.1',
  stateDir = '.irsp',
): string {
  const domains = ['as1.irsp.test', 'as2.irsp.test'];
  const defaultUrl = (i: number) => `https://${host}:${ports.autonomousSystems[i]!.applicationServer}`;
  const defaultAppid = (i: number) => `default-as${i + 1}`;
  // One key for the pair, in both entries: each signs with it and checks the other's signatures (decision 0006).
  const peerKey = randomSecret();
  const document = {
    tls: { mode: 'local', dir: join(stateDir, 'tls') },
    database: { dataDir: join(stateDir, 'data') },
    logLevel: 'info',
    operators: [operator],
    accountServer: {
      url: `https://${host}:${ports.accountServer}`,
      listen: { host, port: ports.accountServer },
    },
    autonomousSystems: domains.map((domain, i) => {
      const p = ports.autonomousSystems[i]!;
      const tag = `as${i + 1}`;
      return {
        domain,
        messageServers: [
          {
            id: 'ms1',
            url: `https://${host}:${p.messageServer}`,
            listen: { host, port: p.messageServer },
            pushUri: '/push',
            // The two ASs federate over s2s (clause 8.5), each reaching the other at its URL host and s2sPort.
            xmpp: {
              host,
              c2sPort: p.c2s,
              directTlsPort: p.directTls,
              websocketPort: p.websocket,
              s2sPort: p.s2s,
            },
            ...(p.osap
              ? {
                  osap: {
                    lbs: { host, port: p.osap.lbs },
                    das: [{ host, port: p.osap.das }],
                    // The DAS the LBS names runs in this message server (decision 0022).
                    dasListener: { host, port: p.osap.das },
                  },
                }
              : {}),
            credentials: {
              accountServer: { appid: `account-server-at-${tag}`, token: randomSecret() },
              toAccountServer: { appid: `message-server-${tag}`, token: randomSecret() },
            },
          },
        ],
        applicationServers: [
          {
            name: 'default',
            url: defaultUrl(i),
            listen: { host, port: p.applicationServer },
            jid: `default.${domain}`,
            credentials: { appid: defaultAppid(i), token: randomSecret() },
            serviceUris: SERVICE_URIS,
            // The `default` of the other AS: Messages 14–15 across ASs, signed (clause 8.6).
            peers: [
              {
                name: 'default',
                as: domains[1 - i]!,
                url: defaultUrl(1 - i),
                appid: defaultAppid(1 - i),
                key: peerKey,
              },
            ],
          },
          {
            // The smart-lock application (ISO/IEC 14543-5-104); the other end of Messages 14–15 within the AS.
            name: 'smartlock',
            url: `https://${host}:${p.smartlock}`,
            listen: { host, port: p.smartlock },
            jid: `smartlock.${domain}`,
            credentials: { appid: `smartlock-${tag}`, token: randomSecret() },
            serviceUris: SERVICE_URIS,
            applications: ['smartlock'],
            // Its Messages 9 are gateways' lock frames; OSAP devices' events go to `default` (decision 0022).
            deviceEvents: false,
          },
        ],
      };
    }),
  };
  return `# IRSP topology written by \`pnpm start\` on first start. Edit freely; see docs/configuration.md.\n${stringify(document)}`;
}
