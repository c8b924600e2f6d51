/**
 * The OSAP device access service (DAS; sections 8–9, Figure 1: MQTT over TLS), a listener of the message server on
 * the aedes broker (decision 0022). aedes speaks MQTT 3.1.1; this module decides who may do what:
 *
 * - CONNECT (section 8, F1): client identifier and user name are the DevID, the password a proof made with the
 *   session key over a counter above the last accepted (@irsp/osap das.ts). CONNACK (F2) refuses with 2 (identifier
 *   rejected) for a DevID nobody issued, 4 (bad user name or password) for a missing, malformed, wrong or replayed
 *   proof, 5 (not authorized) for a client identifier other than the proven DevID, 3 (server unavailable) when
 *   the DAS is full or its database fails.
 * - Heartbeats (section 9): the keep alive the device indicates, at most `maxHeartbeatSeconds` (0 or more is
 *   replaced by it); aedes closes a connection silent for 1.5 times it (MQTT 3.1.1 §3.1.2.10).
 * - A device publishes only on its own `up` topics, with business payloads that open under its session key with a
 *   counter above the last accepted (the CONNECT's, then each payload's); anything else — another device's topic, a
 *   tampered, truncated or replayed payload — closes the connection (MQTT 3.1.1 has no negative PUBACK). It
 *   subscribes only to its own `down` topics; any other filter is refused in the SUBACK (0x80).
 * - Online while connected: the device's session is a row of online_sessions (Message 10 at the first, 11 when the
 *   last goes, as for XMPP devices: decision 0013), written before the CONNACK and removed when the connection
 *   ends in any way (DISCONNECT, keep alive lost, a refused publish, a takeover). The will is not published: what
 *   it would announce, the platform reports itself.
 * - Events (`event/up`) become Message 9, queued before the PUBACK; Message 13 to a device listening on its
 *   operation channel is published on `operation/down` (QoS 1).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import {
  Aedes,
  type AuthenticateError,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from 'aedes';
import type { OsapConfig, TlsMaterial } from '@irsp/config';
import type { Logger } from '@irsp/http';
import {
  dasConnectCounter,
  dasDevIdSchema,
  dasTopic,
  openBusinessPayload,
  parseDasTopic,
  sealBusinessPayload,
  verifyDasConnectPassword,
  type DasChannel,
} from '@irsp/osap';
import { MAX_DATA_LENGTH } from '@irsp/protocol';
import type { ConnectionBudget } from '@irsp/xmpp';
import type { SessionKey } from '../online-sessions.js';
import type { DasStore } from './das-store.js';

export type DasListenerConfig = NonNullable<OsapConfig['dasListener']>;

/** What the DAS tells the rest of the message server (build.ts wires it to online sessions and notifications). */
export interface DasBridge {
  online(local: string, resource: string): Promise<void>;
  offline(local: string, resource: string): Promise<void>;
  /** A device's event, as Message 9 `data`. */
  event(local: string, data: string): Promise<void>;
}

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3) the DAS answers with. */
export const CONNACK = {
  identifierRejected: 2,
  serverUnavailable: 3,
  badCredentials: 4,
  notAuthorized: 5,
} as const;
type Refusal = (typeof CONNACK)[keyof typeof CONNACK];

interface DeviceConnection {
  devId: string;
  local: string;
  sessionKey: Uint8Array;
  /** The online_sessions resource of this connection (one per connection, so a takeover never removes the new row). */
  resource: string;
  /** The last counter accepted from the device: the CONNECT's, then each business payload's. */
  lastUp: number;
  /** The `down` topics it subscribed to (and has not unsubscribed from). */
  subscribed: Set<string>;
}

interface Connection {
  remoteAddress: string | undefined;
  closed: boolean;
  will?: unknown;
  device?: DeviceConnection;
}

export interface DasServerOptions {
  config: DasListenerConfig;
  tls: TlsMaterial;
  connections: ConnectionBudget;
  store: DasStore;
  bridge: DasBridge;
  logger: Logger;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes a connection may send before its CONNECT is accepted. aedes sets no limit on a packet's size, and a CONNECT
 * of ours is some 200 bytes (a will, never published, adds its payload): a peer that sends more before proving who
 * it is is closed instead of being buffered.
 */
const MAX_BYTES_BEFORE_CONNACK = 16 * 1024;

export class DasServer {
  private broker: Aedes | undefined;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly connections = new WeakMap<Client, Connection>();
  private readonly live = new Set<DeviceConnection>();
  /** The live connection of each device account, by local part (the latest, after a takeover). */
  private readonly byLocal = new Map<string, DeviceConnection>();

  constructor(private readonly options: DasServerOptions) {
    const { tls, config } = options;
    this.server = createServer({ cert: tls.cert, key: tls.key, handshakeTimeout: config.connectTimeoutMs });
    this.server.on('connection', (socket: Socket) => {
      if (!options.connections.admit(socket, 'osap-das')) {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('secureConnection', (socket) => this.serve(socket));
    this.server.on('tlsClientError', (error, socket) => {
      options.logger.debug({ err: error, remoteAddress: socket.remoteAddress }, 'osap das: TLS failed');
      socket.destroy();
    });
  }

  /** Devices connected to this DAS now. */
  get load(): number {
    return this.live.size;
  }

  /** The online sessions this DAS holds (online-sessions.ts writes them again after losing its lease). */
  held(): SessionKey[] {
    return [...this.live].map((d) => ({ local: d.local, resource: d.resource }));
  }

  private serve(socket: TLSSocket): void {
    if (!this.broker) return void socket.destroy();
    const connection: Connection = { remoteAddress: socket.remoteAddress, closed: false };
    socket.on('error', () => socket.destroy());
    // aedes reads on 'readable'; this listener sees what it reads without changing the flow.
    let unproven = 0;
    const guard = (chunk: Buffer) => {
      if (connection.device) return void socket.off('data', guard);
      unproven += chunk.length;
      if (unproven <= MAX_BYTES_BEFORE_CONNACK) return;
      this.refused(connection, undefined, 'too many bytes before CONNACK');
      socket.destroy();
    };
    socket.on('data', guard);
    socket.once('close', () => {
      connection.closed = true;
      if (connection.device) this.gone(connection.device);
    });
    this.connections.set(this.broker.handle(socket), connection);
  }

  private refused(connection: Connection | undefined, devId: string | undefined, reason: string): void {
    this.options.logger.info(
      { devId, remoteAddress: connection?.remoteAddress },
      `osap das refused: ${reason}`,
    );
  }

  private preConnect(client: Client, packet: ConnectPacket, done: (e: Error | null, ok: boolean) => void) {
    const { maxHeartbeatSeconds } = this.options.config;
    // Section 9: the heartbeat interval the device indicates, within what this DAS allows.
    if (!packet.keepalive || packet.keepalive > maxHeartbeatSeconds) packet.keepalive = maxHeartbeatSeconds;
    const connection = this.connections.get(client);
    if (connection) connection.will = packet.will;
    done(null, true);
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const connection = this.connections.get(client);
    this.admit(client, connection, username, password).then(
      (refusal) => {
        if (refusal === undefined) return done(null, true);
        const error = Object.assign(new Error('refused'), { returnCode: refusal }) as AuthenticateError;
        done(error, false);
      },
      (error: unknown) => {
        this.options.logger.error({ err: error, devId: username }, 'osap das: CONNECT failed');
        done(Object.assign(new Error('unavailable'), { returnCode: CONNACK.serverUnavailable }), false);
      },
    );
  }

  /** Checks a CONNECT and records the device online; answers the CONNACK refusal, or undefined to accept. */
  private async admit(
    client: Client,
    connection: Connection | undefined,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<Refusal | undefined> {
    const { store, bridge, config } = this.options;
    if (!connection || connection.closed) return CONNACK.serverUnavailable;
    if (this.live.size >= config.maxDevices) {
      this.refused(connection, username, 'full');
      return CONNACK.serverUnavailable;
    }
    if (username === undefined || !dasDevIdSchema.safeParse(username).success) {
      this.refused(connection, undefined, 'no DevID');
      return username === undefined ? CONNACK.badCredentials : CONNACK.identifierRejected;
    }
    const devId = username;
    if (!dasConnectCounter(password).ok) {
      this.refused(connection, devId, 'malformed password');
      return CONNACK.badCredentials;
    }
    const device = await store.device(devId);
    if (!device) {
      this.refused(connection, devId, 'unknown DevID');
      return CONNACK.identifierRejected;
    }
    const proof = verifyDasConnectPassword(device.sessionKey, devId, password);
    if (!proof.ok) {
      this.refused(connection, devId, 'wrong proof');
      return CONNACK.badCredentials;
    }
    if (client.id !== devId) {
      this.refused(connection, devId, 'client identifier is not the DevID');
      return CONNACK.notAuthorized;
    }
    if (!(await store.claim(devId, device.sessionKey, proof.value))) {
      this.refused(connection, devId, 'replayed or stale CONNECT');
      return CONNACK.badCredentials;
    }
    const admitted: DeviceConnection = {
      devId,
      local: device.local,
      sessionKey: device.sessionKey,
      resource: `osap-${randomBytes(6).toString('hex')}`,
      lastUp: proof.value,
      subscribed: new Set(),
    };
    this.live.add(admitted);
    this.byLocal.set(admitted.local, admitted);
    await bridge.online(admitted.local, admitted.resource);
    connection.device = admitted;
    this.options.logger.info({ devId, device: device.local }, 'osap das: online');
    // The connection may have ended while the session was written: it is over at once.
    if (connection.closed) {
      this.gone(admitted);
      return CONNACK.serverUnavailable;
    }
    return undefined;
  }

  private gone(device: DeviceConnection): void {
    if (!this.live.delete(device)) return;
    if (this.byLocal.get(device.local) === device) this.byLocal.delete(device.local);
    this.options.logger.info({ devId: device.devId, device: device.local }, 'osap das: offline');
    this.options.bridge
      .offline(device.local, device.resource)
      .catch((error: unknown) =>
        this.options.logger.error({ err: error, devId: device.devId }, 'osap das: offline not written'),
      );
  }

  private authorizePublish(client: Client | null, packet: PublishPacket, done: (e?: Error | null) => void) {
    const connection = client ? this.connections.get(client) : undefined;
    const device = connection?.device;
    // Wills (ours, or a dead broker's) are not published: the connection's end is reported offline instead.
    if (!connection || !device || packet === connection.will) return done(new Error('not published'));
    const topic = parseDasTopic(packet.topic);
    if (!topic || topic.devId !== device.devId || topic.direction !== 'deviceToPlatform') {
      this.refused(connection, device.devId, 'publish on a topic not its own');
      return done(new Error('not authorized'));
    }
    const payload =
      typeof packet.payload === 'string' ? Buffer.from(packet.payload) : new Uint8Array(packet.payload);
    const opened = openBusinessPayload(
      {
        sessionKey: device.sessionKey,
        topic: packet.topic,
        direction: 'deviceToPlatform',
        lastCounter: device.lastUp,
      },
      payload,
    );
    if (!opened.ok) {
      this.refused(connection, device.devId, `business payload ${opened.error.code}`);
      return done(new Error('refused payload'));
    }
    // Taken before anything is awaited: publishes of one connection may be handled concurrently.
    device.lastUp = opened.value.counter;
    // Nobody may read `up` topics, so nothing is retained for them.
    packet.retain = false;
    this.uplink(device, topic.channel, opened.value.body).then(
      () => done(null),
      (error: unknown) => {
        this.options.logger.error({ err: error, devId: device.devId }, 'osap das: uplink not handled');
        done(new Error('not handled'));
      },
    );
  }

  /** What a device sends on a channel: events become Message 9 (queued before the PUBACK). */
  private async uplink(device: DeviceConnection, channel: DasChannel, body: Uint8Array): Promise<void> {
    if (channel !== 'event') return; // Attribute reports and operation results: not bridged yet (docs/osap.md).
    let data: string;
    try {
      data = utf8.decode(body);
    } catch {
      throw new Error('an event is UTF-8 text');
    }
    if (data.length === 0 || data.length > MAX_DATA_LENGTH)
      throw new Error(`an event is 1 to ${MAX_DATA_LENGTH} characters`);
    await this.options.bridge.event(device.local, data);
  }

  private authorizeSubscribe(
    client: Client,
    subscription: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ) {
    const connection = this.connections.get(client);
    const device = connection?.device;
    const topic = parseDasTopic(subscription.topic);
    if (!device || !topic || topic.devId !== device.devId || topic.direction !== 'platformToDevice') {
      this.refused(connection, device?.devId, 'subscription to a topic not its own');
      return done(null, null); // SUBACK 0x80 for this filter
    }
    device.subscribed.add(subscription.topic);
    done(null, subscription);
  }

  /**
   * Message 13 (clause 8.3.3) to a device connected here that subscribed to its operation channel: `data` is
   * published on `operation/down` as a business payload under its session key, with the next platform → device
   * counter. False when the device is not connected here or not listening (the caller falls back to XMPP or
   * offline storage).
   */
  async operation(local: string, data: string): Promise<boolean> {
    const device = this.byLocal.get(local);
    const broker = this.broker;
    const topic = device && dasTopic(device.devId, 'operation', 'platformToDevice');
    if (!device || !broker || !topic || !device.subscribed.has(topic)) return false;
    const counter = await this.options.store.nextDownCounter(device.devId, device.sessionKey);
    if (counter === undefined) return false;
    const payload = sealBusinessPayload(
      { sessionKey: device.sessionKey, topic, direction: 'platformToDevice', counter },
      new TextEncoder().encode(data),
    );
    await new Promise<void>((resolve, reject) =>
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    this.options.logger.info({ devId: device.devId, counter }, 'osap das: operation published');
    return true;
  }

  /** Listens on `port` (0: any free one) at `host`; resolves to the bound port. */
  async listen(port: number, host: string): Promise<number> {
    this.broker = await Aedes.createBroker({
      connectTimeout: this.options.config.connectTimeoutMs,
      preConnect: (client, packet, done) => this.preConnect(client, packet, done),
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => this.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, subscription, done) => this.authorizeSubscribe(client, subscription, done),
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Closes every connection (each device reported offline) and the broker. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    const broker = this.broker;
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
}
