/**
 * An OSAP device (draft-wang-open-service-access-protocol-06) as a program: authentication at the LBS over TLS
 * (sections 6–7, driven by @irsp/osap's deviceStep), then MQTT over TLS to the DAS it was sent to (sections 8–9:
 * CONNECT with the proof of docs/osap.md choice 24, heartbeats as MQTT keep alive), events on its event channel,
 * attribute reports on its attribute channel, and operations — a related account's, an application server's Message
 * 13 — on its operation channel, each answered with a result by its handler (decision 0027).
 * It keeps what a device must keep: its DevID and master key (re-authentication), and one uplink counter per
 * session key, shared by CONNECTs and business payloads (decision 0022).
 */
import { connect as tlsConnect } from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import {
  channelBody,
  dasConnectPassword,
  operationDownSchema,
  parseChannelBody,
  dasTopic,
  deviceStep,
  frameLength,
  initialDeviceState,
  openBusinessPayload,
  sealBusinessPayload,
  shareKey,
  type DasAddress,
  type DeviceCredentials,
  type DasChannel,
  type DeviceState,
  type OperationDown,
  type ProtocolOffer,
} from '@irsp/osap';

export interface OsapDeviceOptions {
  serialNumber: string;
  verificationCode: string;
  lbs: { host: string; port: number };
  /** The CA the LBS's and the DAS's certificates are checked with (PEM). */
  ca: string;
  /** What the device offers in negotiation (section 6), first choice first. */
  supports: readonly ProtocolOffer[];
  /** PBKDF2 rounds of the share key: the LBS's `shareKeyIterations`. */
  shareKeyIterations: number;
  /** The heartbeat interval the CONNECT indicates (s; section 9: usually 30). */
  heartbeatSeconds?: number;
  /** The most LBS connections one authentication may take (negotiation retry, re-authentication falling back). */
  maxLbsConnections?: number;
  /**
   * Operations the platform sends on the device's operation channel (a related account's `<operate>`, a message,
   * an application server's Message 13): the text it answers is published as the result; undefined answers nothing.
   */
  onOperation?: (operation: OperationDown) => string | undefined | Promise<string | undefined>;
  /** A payload on a `down` topic that did not open (tampered, replayed, another key): refused, not counted. */
  onRefused?: (reason: string) => void;
}

export interface DasSession {
  devId: string;
  das: DasAddress;
}

const LBS_TIMEOUT_MS = 30_000;

export class OsapDevice {
  private credentials: DeviceCredentials;
  private session: { devId: string; sessionKey: Uint8Array; das: DasAddress } | undefined;
  /** The last uplink counter used under the current session key. */
  private counter = 0;
  /** The last platform → device counter accepted under the current session key. */
  private lastDown = 0;
  private client: MqttClient | undefined;

  constructor(private readonly options: OsapDeviceOptions) {
    this.credentials = {
      serialNumber: options.serialNumber,
      shareKey: shareKey(options.verificationCode, options.serialNumber, {
        iterations: options.shareKeyIterations,
      }),
      supports: options.supports,
    };
  }

  /**
   * First authentication, or re-authentication when the device has a DevID; a re-authentication the LBS refuses
   * (the DevID was revoked) falls back to a first authentication. Ends with a new session key and a DAS address.
   */
  async authenticate(): Promise<DasSession> {
    const hadDevId = this.credentials.devId !== undefined;
    let state = await this.lbsExchange(initialDeviceState(this.credentials));
    if (state.phase !== 'ready' && hadDevId) {
      const { serialNumber, shareKey: key, supports } = this.credentials;
      this.credentials = { serialNumber, shareKey: key, supports };
      state = await this.lbsExchange(initialDeviceState(this.credentials));
    }
    if (state.phase !== 'ready')
      throw new Error(
        `LBS refused the device (${state.phase === 'failed' ? state.error.code : 'connection closed'})`,
      );
    this.credentials = state.device;
    this.session = { devId: state.device.devId!, sessionKey: state.sessionKey, das: state.das };
    this.counter = 0;
    this.lastDown = 0;
    return { devId: this.session.devId, das: state.das };
  }

  /** Connections to the LBS until the device is ready, failed, or the LBS closes without a word. */
  private async lbsExchange(start: DeviceState): Promise<DeviceState> {
    let state = start;
    for (let i = 0; i < (this.options.maxLbsConnections ?? 3); i++) {
      const { atClose, next, received } = await this.lbsConnection(state);
      if (atClose.phase === 'ready' || atClose.phase === 'failed' || received === 0) return atClose;
      if (next.phase !== 'disconnected') return next;
      state = next;
    }
    return state;
  }

  private lbsConnection(
    state: DeviceState,
  ): Promise<{ atClose: DeviceState; next: DeviceState; received: number }> {
    const { lbs, ca } = this.options;
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: lbs.host, port: lbs.port, ca });
      socket.setTimeout(LBS_TIMEOUT_MS, () => socket.destroy(new Error('LBS timed out')));
      let current = state;
      let received = 0;
      let buffered = Buffer.alloc(0);
      const apply = (step: ReturnType<typeof deviceStep>) => {
        current = step.state;
        for (const bytes of step.send) socket.write(bytes);
        if (step.close) socket.end();
      };
      socket.once('secureConnect', () => apply(deviceStep(current, { kind: 'connected' })));
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        for (;;) {
          const length = frameLength(buffered);
          if (!length.ok) return socket.destroy();
          if (length.value === undefined) return;
          const bytes = buffered.subarray(0, length.value);
          buffered = buffered.subarray(length.value);
          received++;
          apply(deviceStep(current, { kind: 'received', bytes }));
        }
      });
      socket.once('error', reject);
      socket.once('close', () =>
        resolve({
          atClose: current,
          next: deviceStep(current, { kind: 'disconnected' }).state,
          received,
        }),
      );
    });
  }

  private nextCounter(): number {
    return ++this.counter;
  }

  /** Registers with the DAS (section 8, F1–F2); resolves once CONNACK accepted it. */
  async connect(): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('authenticate first');
    const client = mqtt.connect(`mqtts://${session.das.host}:${session.das.port}`, {
      ca: this.options.ca,
      protocolVersion: 4,
      clientId: session.devId,
      username: session.devId,
      password: dasConnectPassword(session.sessionKey, session.devId, this.nextCounter()),
      keepalive: this.options.heartbeatSeconds ?? 30,
      reconnectPeriod: 0,
      clean: true,
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (error) => {
        client.end(true);
        reject(error);
      });
    });
    this.client = client;
    const operations = dasTopic(session.devId, 'operation', 'platformToDevice');
    client.on('message', (topic, payload) => this.received(topic, payload));
    await client.subscribeAsync(operations, { qos: 1 });
  }

  private received(topic: string, payload: Buffer): void {
    const session = this.session;
    if (!session) return;
    const opened = openBusinessPayload(
      { sessionKey: session.sessionKey, topic, direction: 'platformToDevice', lastCounter: this.lastDown },
      new Uint8Array(payload),
    );
    if (!opened.ok) return this.options.onRefused?.(opened.error.code);
    this.lastDown = opened.value.counter;
    const operation = parseChannelBody(operationDownSchema, opened.value.body);
    if (!operation.ok) return this.options.onRefused?.(operation.error.code);
    void this.answer(operation.value).catch((error: unknown) =>
      this.options.onRefused?.(`operation not answered: ${String(error)}`),
    );
  }

  private async answer(operation: OperationDown): Promise<void> {
    const result = await this.options.onOperation?.(operation);
    if (result !== undefined)
      await this.publish('operation', channelBody({ id: operation.id, data: result }));
  }

  /** Resolves when the DAS connection ends (DISCONNECT, refusal, lost heartbeats, network). */
  closed(): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.resolve();
    return new Promise((resolve) => client.once('close', () => resolve()));
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Publishes an event (UTF-8 text) on the device's event channel; resolves at the DAS's PUBACK. */
  event(text: string): Promise<void> {
    return this.publish('event', new TextEncoder().encode(text));
  }

  /** Reports attributes that changed on the attribute channel; resolves at the DAS's PUBACK (they are kept). */
  attributes(report: Record<string, string | number | boolean>): Promise<void> {
    return this.publish('attribute', channelBody(report));
  }

  /** A business payload on one of the device's `up` topics (QoS 1). */
  private async publish(channel: DasChannel, body: Uint8Array): Promise<void> {
    const session = this.session;
    const client = this.client;
    if (!session || !client) throw new Error('connect first');
    const topic = dasTopic(session.devId, channel, 'deviceToPlatform');
    const payload = sealBusinessPayload(
      { sessionKey: session.sessionKey, topic, direction: 'deviceToPlatform', counter: this.nextCounter() },
      body,
    );
    await client.publishAsync(topic, Buffer.from(payload), { qos: 1 });
  }

  /** Deregisters (section 8, F3: DISCONNECT). */
  async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    // A connection the DAS already closed has nothing to end (mqtt.js would wait for ever).
    if (client?.connected) await client.endAsync();
    else client?.end(true);
  }
}
