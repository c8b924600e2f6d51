/** Prosody from Debian's package, configured for the run: loopback only, one c2s port, no limits module. */
import { createHash, createHmac, pbkdf2Sync, randomUUID } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ServerProcess } from './process.js';
import { debianVersion, freePorts, waitForPort } from './system.js';
import { DOMAIN, PASSWORD, type LaunchOptions, type ServerUnderTest } from './types.js';

/** Prosody's data paths encode every non-alphanumeric character as %xx (util/datamanager.lua). */
export function prosodyPathEncode(name: string): string {
  return name.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * An account file as mod_auth_internal_hashed writes it: SCRAM-SHA-1 keys in hex, the salt a UUID used as
 * raw bytes. Written directly because `prosodyctl register` costs a process start per account.
 */
export function prosodyAccountFile(password: string, salt: string, iterations: number): string {
  const salted = pbkdf2Sync(password, salt, iterations, 20, 'sha1');
  const clientKey = createHmac('sha1', salted).update('Client Key').digest();
  const storedKey = createHash('sha1').update(clientKey).digest('hex');
  const serverKey = createHmac('sha1', salted).update('Server Key').digest('hex');
  return (
    `return {\n\t["stored_key"] = "${storedKey}";\n\t["server_key"] = "${serverKey}";\n` +
    `\t["salt"] = "${salt}";\n\t["iteration_count"] = ${iterations};\n};\n`
  );
}

/**
 * The items of a list file of Prosody's internal storage: util/datamanager.lua's list_append writes each as one
 * line `item(<serialised value>);` (newlines in values are escaped), and writes, flushes and closes the file
 * before the stanza's handler returns.
 */
export function prosodyListItems(text: string): number {
  return text.match(/^item\(/gm)?.length ?? 0;
}

export async function launchProsody(o: LaunchOptions): Promise<ServerUnderTest> {
  const { c2s: c2sPort } = await freePorts(['c2s']);
  const data = join(o.dir, 'data');
  const certs = join(o.dir, 'certs');
  await mkdir(join(data, prosodyPathEncode(DOMAIN), 'accounts'), { recursive: true });
  await mkdir(certs, { recursive: true });
  await copyFile(o.tls.certFile, join(certs, `${DOMAIN}.crt`));
  await copyFile(o.tls.keyFile, join(certs, `${DOMAIN}.key`));
  const config = join(o.dir, 'prosody.cfg.lua');
  await writeFile(
    config,
    `-- Written by bench/src/servers/prosody.ts for one benchmark run.
run_as_root = true
daemonize = false
pidfile = "${join(o.dir, 'prosody.pid')}"
data_path = "${data}"
log = { warn = "${join(o.dir, 'prosody.log')}" }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
use_ipv6 = false
c2s_ports = { ${c2sPort} }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
network_settings = { tcp_backlog = 1024 }
c2s_require_encryption = ${o.requireTls}
allow_unencrypted_plain_auth = false
authentication = "internal_hashed"
storage = "internal"
certificates = "${certs}"
ssl = { protocol = "tlsv1_2+" }
-- No mod_limits (rate limits) and no s2s: only what the comparison needs.
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "offline"; "posix" }
modules_disabled = { "s2s" }
VirtualHost "${DOMAIN}"
`,
  );
  const child = ServerProcess.start([...o.prefix, 'prosody', '-F', '--config', config], {
    logFile: join(o.dir, 'prosody.out'),
  });
  try {
    await waitForPort(c2sPort);
  } catch (error) {
    await child.stop();
    throw error;
  }
  const accounts = join(data, prosodyPathEncode(DOMAIN), 'accounts');
  return {
    name: 'prosody',
    version: debianVersion('prosody') ?? 'unknown',
    c2sPort,
    pid: child.pid,
    deviceLocalpart: (name) => name,
    async createAccounts(names) {
      for (const name of names) {
        const file = prosodyAccountFile(PASSWORD, randomUUID(), 4096);
        await writeFile(join(accounts, `${prosodyPathEncode(name)}.dat`), file);
      }
    },
    async offlineCount(localpart) {
      // mod_offline's archive store "offline" (mod_storage_internal): <data>/<host>/offline/<user>.list
      const file = join(data, prosodyPathEncode(DOMAIN), 'offline', `${prosodyPathEncode(localpart)}.list`);
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return '';
        throw error;
      });
      return prosodyListItems(text);
    },
    stop: () => child.stop(),
  };
}
