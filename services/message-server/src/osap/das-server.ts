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
 * - Online while connected: each connection is a session of the device account in the message router
 *   (das-session.ts, decision 0027), bound before the CONNACK — a row of online_sessions, Message 10 at the first
 *   (decision 0013) — available to its related accounts at the CONNACK, and unbound when the connection ends in any
 *   way (DISCONNECT, keep alive lost, a refused publish, a packet above `maxPacketBytes`, a takeover): unavailable,
 *   Message 11 when it was the last. The will is not published: what it would announce, the platform reports itself.
 * - Events (`event/up`) become Message 9 and the device's point-to-multipoint message to its related accounts, both
 *   queued or stored before the PUBACK; attribute reports (`attribute/up`) are kept (attributes.ts); results
 *   (`operation/up`) go back to whoever asked. Operations reach the device on `operation/down` (QoS 1) once it
 *   subscribed there.
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
  attributeReportSchema,
  channelBody,
  operationResultSchema,
  parseChannelBody,
  parseDasTopic,
  sealBusinessPayload,
  type OperationDown,
  verifyDasConnectPassword,
  type DasChannel,
} from '@irsp/osap';
import { MAX_DATA_LENGTH } from '@irsp/protocol';
import type { ConnectionBudget, Element } from '@irsp/xmpp';
import type { OsapAttributes } from './attributes.js';
import { PacketSizeGuard } from './das-packets.js';
import { DasSession } from './das-session.js';
import type { DasStore } from './das-store.js';

export type DasListenerConfig = NonNullable<OsapConfig['dasListener']>;

/** What the DAS tells the rest of the message server (build.ts wires it to the message router and notifications). */
export interface DasBridge {
  /** The router's session hooks (C2sRouter): a DAS connection is a session of the device account. */
  bound(session: DasSession): Promise<void>;
  route(session: DasSession, stanza: Element): Promise<void>;
  unacknowledged(session: DasSession, stanzas: Element[], sentAt: Date[]): void;
  unbound(session: DasSession): void;
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
  /** Its session in the router, resource `osap-<random>` (one per connection, so a takeover never removes the new one). */
  session: DasSession;
  /** The last counter accepted from the device: the CONNECT's, then each business payload's. */
  lastUp: number;
}

interface Connection {
  remoteAddress: string | undefined;
  closed: boolean;
  will?: unknown;
  device?: DeviceConnection;
}

export interface DasServerOptions {
  /** The AS's domain: a device's session is `#serial@domain/osap-<random>`. */
  domain: string;
  config: DasListenerConfig;
  tls: TlsMaterial;
  connections: ConnectionBudget;
  store: DasStore;
  attributes: OsapAttributes;
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

  private serve(socket: TLSSocket): void {
    if (!this.broker) return void socket.destroy();
    const connection: Connection = { remoteAddress: socket.remoteAddress, closed: false };
    socket.on('error', () => socket.destroy());
    // aedes reads on 'readable'; this listener sees what it reads without changing the flow.
    let unproven = 0;
    const packets = new PacketSizeGuard(this.options.config.maxPacketBytes);
    socket.on('data', (chunk: Buffer) => {
      if (!connection.device) {
        unproven += chunk.length;
        if (unproven <= MAX_BYTES_BEFORE_CONNACK) return void packets.feed(chunk);
        this.refused(connection, undefined, 'too many bytes before CONNACK');
        return void socket.destroy();
      }
      if (packets.feed(chunk)) return;
      this.refused(connection, connection.device.devId, 'packet above maxPacketBytes');
      socket.destroy();
    });
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
    const jid = {
      local: device.local,
      domain: this.options.domain,
      resource: `osap-${randomBytes(6).toString('hex')}`,
    };
    const admitted: DeviceConnection = {
      devId,
      local: device.local,
      sessionKey: device.sessionKey,
      session: new DasSession(
        jid,
        connection.remoteAddress,
        {
          publish: (operation) => this.publishOperation(admitted, operation),
          route: (stanza) => bridge.route(admitted.session, stanza),
          close: () => void client.close(),
        },
        config.operationTimeoutMs,
        this.options.logger,
      ),
      lastUp: proof.value,
    };
    this.live.add(admitted);
    try {
      await bridge.bound(admitted.session);
    } catch (error) {
      this.gone(admitted);
      throw error;
    }
    connection.device = admitted;
    this.options.logger.info({ devId, device: device.local }, 'osap das: online');
    // The connection may have ended while the session was written: it is over at once.
    if (connection.closed) {
      this.gone(admitted);
      return CONNACK.serverUnavailable;
    }
    return undefined;
  }

  /** The connection has ended: what waited for the device goes back to the router, then its session ends. */
  private gone(device: DeviceConnection): void {
    if (!this.live.delete(device)) return;
    this.options.logger.info({ devId: device.devId, device: device.local }, 'osap das: offline');
    const { stanzas, sentAt } = device.session.end();
    const { bridge } = this.options;
    if (stanzas.length > 0) bridge.unacknowledged(device.session, stanzas, sentAt);
    bridge.unbound(device.session);
  }

  /** The CONNACK went out: the device is available to its related accounts. */
  private connackSent(client: Client): void {
    const device = this.connections.get(client)?.device;
    if (!device || !this.live.has(device)) return;
    device.session
      .available()
      .catch((error: unknown) =>
        this.options.logger.error({ err: error, devId: device.devId }, 'osap das: presence not sent'),
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

  /**
   * What a device sends on a channel, handled before the PUBACK: an event becomes Message 9 and its message to its
   * related accounts, an attribute report is kept, a result goes to whoever asked. A body that does not parse
   * throws (the publish is refused, the connection closed).
   */
  private async uplink(device: DeviceConnection, channel: DasChannel, body: Uint8Array): Promise<void> {
    if (channel === 'attribute') {
      const report = parseChannelBody(attributeReportSchema, body);
      if (!report.ok) throw new Error(`an attribute report: ${report.error.detail}`);
      if (!(await this.options.attributes.report(device.local, report.value)))
        throw new Error('too many attributes for one device');
      return;
    }
    if (channel === 'operation') {
      const result = parseChannelBody(operationResultSchema, body);
      if (!result.ok) throw new Error(`an operation result: ${result.error.detail}`);
      // A result nobody awaits (its requester timed out) is dropped: the device did nothing wrong.
      if (!device.session.result(result.value.id, result.value.data))
        this.options.logger.info(
          { devId: device.devId, id: result.value.id },
          'osap das: late result dropped',
        );
      return;
    }
    let data: string;
    try {
      data = utf8.decode(body);
    } catch {
      throw new Error('an event is UTF-8 text');
    }
    if (data.length === 0 || data.length > MAX_DATA_LENGTH)
      throw new Error(`an event is 1 to ${MAX_DATA_LENGTH} characters`);
    await Promise.all([this.options.bridge.event(device.local, data), device.session.event(data)]);
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
    done(null, subscription);
  }

  /** The device subscribed: once on its operation channel, what waits for it is published there. */
  private subscribed(client: Client, subscriptions: Subscription[]): void {
    const device = this.connections.get(client)?.device;
    if (!device) return;
    const operations = dasTopic(device.devId, 'operation', 'platformToDevice');
    if (subscriptions.some((s) => s.topic === operations)) device.session.listen();
  }

  /**
   * An operation (a related account's, an application server's Message 13) on the device's `operation/down`: a
   * business payload under its session key with the next platform → device counter (QoS 1).
   */
  private async publishOperation(device: DeviceConnection, operation: OperationDown): Promise<void> {
    const broker = this.broker;
    const topic = dasTopic(device.devId, 'operation', 'platformToDevice');
    if (!broker || !topic) throw new Error('no broker');
    const counter = await this.options.store.nextDownCounter(device.devId, device.sessionKey);
    if (counter === undefined) throw new Error('the session key is no longer current');
    const payload = sealBusinessPayload(
      { sessionKey: device.sessionKey, topic, direction: 'platformToDevice', counter },
      channelBody(operation),
    );
    await new Promise<void>((resolve, reject) =>
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    this.options.logger.info({ devId: device.devId, counter }, 'osap das: operation published');
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
    this.broker.on('connackSent', (_packet, client) => this.connackSent(client));
    this.broker.on('subscribe', (subscriptions, client) => this.subscribed(client, subscriptions));
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
