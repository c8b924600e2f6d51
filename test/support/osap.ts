/** An OSAP device on real TLS connections: to an LBS, driven by @irsp/osap's deviceStep, and to a DAS over MQTT. */
import { once } from 'node:events';
import { connect } from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import { dasConnectPassword, deviceStep, frameLength, type DeviceState } from '@irsp/osap';

export interface LbsAddress {
  host: string;
  port: number;
  /** The CA the LBS's certificate is checked with. */
  ca: string;
}

export interface LbsConnection {
  /** The device's state when the connection closed (before the `disconnected` event). */
  atClose: DeviceState;
  /** Its state after `disconnected`: what the next connection starts from. */
  next: DeviceState;
  /** Control messages the LBS sent. */
  received: number;
}

/** One connection, until either side closes; `raw` bytes are sent instead of what the device would send first. */
export async function lbsConnection(
  lbs: LbsAddress,
  state: DeviceState,
  raw?: Uint8Array,
): Promise<LbsConnection> {
  const socket = connect({ host: lbs.host, port: lbs.port, ca: lbs.ca, servername: 'localhost' });
  await once(socket, 'secureConnect');
  let current = state;
  let received = 0;
  let buffered = Buffer.alloc(0);
  const closed = once(socket, 'close');
  const apply = (step: ReturnType<typeof deviceStep>) => {
    current = step.state;
    for (const bytes of step.send) socket.write(bytes);
    if (step.close) socket.end();
  };
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const length = frameLength(buffered);
      if (!length.ok || length.value === undefined) return;
      const bytes = buffered.subarray(0, length.value);
      buffered = buffered.subarray(length.value);
      received++;
      apply(deviceStep(current, { kind: 'received', bytes }));
    }
  });
  if (raw) socket.write(raw);
  else apply(deviceStep(current, { kind: 'connected' }));
  await closed;
  return { atClose: current, next: deviceStep(current, { kind: 'disconnected' }).state, received };
}

/** Connections until the device is ready or failed, or the LBS stops answering (at most `connections`). */
export async function authenticateAt(
  lbs: LbsAddress,
  state: DeviceState,
  connections = 3,
): Promise<LbsConnection[]> {
  const all: LbsConnection[] = [];
  let current = state;
  for (let i = 0; i < connections && current.phase === 'disconnected'; i++) {
    const connection = await lbsConnection(lbs, current);
    all.push(connection);
    if (connection.atClose.phase === 'ready' || connection.atClose.phase === 'failed') break;
    if (connection.next.phase !== 'disconnected' || connection.received === 0) break;
    current = connection.next;
  }
  return all;
}

/** A DAS as a device dials it (MQTT over TLS). */
export interface DasAddress {
  host: string;
  port: number;
  ca: string;
}

export interface DasLogin {
  devId: string;
  sessionKey: Uint8Array;
  /** The CONNECT counter (above the last the DAS accepted under this session key). */
  counter: number;
  /** Client identifier, when not the DevID; `password` instead of the proof. */
  clientId?: string;
  password?: string;
  keepalive?: number;
  /** The will (section 8 a: "Will subject, Will message"). */
  will?: { topic: string; payload: Uint8Array };
}

/** An MQTT 3.1.1 client connected to the DAS, or the CONNACK return code that refused it. */
export async function dasConnect(
  das: DasAddress,
  login: DasLogin,
): Promise<{ client: MqttClient; code: 0 } | { code: number }> {
  const client = mqtt.connect(`mqtts://${das.host}:${das.port}`, {
    ca: das.ca,
    servername: 'localhost',
    protocolVersion: 4,
    clientId: login.clientId ?? login.devId,
    username: login.devId,
    password: login.password ?? dasConnectPassword(login.sessionKey, login.devId, login.counter),
    keepalive: login.keepalive ?? 30,
    reconnectPeriod: 0,
    clean: true,
    ...(login.will
      ? { will: { topic: login.will.topic, payload: Buffer.from(login.will.payload), qos: 0, retain: false } }
      : {}),
  });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve({ client, code: 0 }));
    client.once('error', (error: Error & { code?: unknown }) => {
      client.end(true);
      if (typeof error.code === 'number') resolve({ code: error.code });
      else reject(error);
    });
  });
}

/** Resolves when the client's connection has closed. */
export function dasClosed(client: MqttClient): Promise<void> {
  if (!client.connected) return Promise.resolve();
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/**
 * A CONNECT written by hand (MQTT 3.1.1 §3.1) with keep alive 1 s, after which the device sends nothing at all, not
 * even PINGREQ: resolves with what the DAS sent (the CONNACK) and how long after it the DAS closed the connection.
 */
export function silentDasConnect(
  das: DasAddress,
  login: DasLogin,
): Promise<{ connack: Buffer; closedAfterMs: number }> {
  const field = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.of(bytes.length >> 8, bytes.length & 0xff), bytes]);
  };
  const body = Buffer.concat([
    field('MQTT'),
    Buffer.of(4, 0xc2, 0, 1), // level 4; user name, password, clean session; keep alive 1 s
    field(login.devId),
    field(login.devId),
    field(dasConnectPassword(login.sessionKey, login.devId, login.counter)),
  ]);
  const socket = connect({ host: das.host, port: das.port, ca: das.ca, servername: 'localhost' });
  socket.write(Buffer.concat([Buffer.of(0x10, body.length), body]));
  return new Promise((resolve, reject) => {
    let connack = Buffer.alloc(0);
    let at = 0;
    socket.on('data', (chunk: Buffer) => {
      connack = Buffer.concat([connack, chunk]);
      at = Date.now();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ connack, closedAfterMs: Date.now() - at }));
  });
}
