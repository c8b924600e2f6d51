/**
 * The RAC (ISO/IEC 14543-5-104 clause 6.3; docs/smartlock.md "The RAC"): sign up and log in (7.1, 7.2), bind a
 * gateway with its verification code, discover and register locks (7.3, 7.4, Figure 6), lock and unlock with the
 * state pushed back (Figure 7), share and revoke, read the audit log, remove a lock (7.5).
 */
import {
  MessageError,
  STATUS,
  nameSchema,
  pinSchema,
  statusByCode,
  type Push,
  type ResponseBody,
} from '@irsp/smartlock/rac';
import { signUp } from './account.js';
import { loadConfig, type RacConfig } from './config.js';
import { field, h, utcInputValue, value, when } from './dom.js';
import { NETWORK_DOWN, NO_ANSWER, bindFailure, loginFailure, rasFailure } from './failures.js';
import { NoAnswer, RasClient, isoSeconds } from './ras.js';
import { LockStore, type KnownLock } from './store.js';
import { LoginError, XmppSession, esc } from './xmpp.js';
import './style.css';

const NS_ROSTER = 'jabber:iq:roster';
const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const NS_VERIFYCODE = 'urn:irsp:verifycode:0';
const NS_PING = 'urn:xmpp:ping';
/** How long a lock command may take to reach the lock before the lock itself refuses it (Figure 7). */
const COMMAND_DEADLINE_S = 30;
/** How long a gateway listens for locks (7.3). */
const DISCOVERY_S = 3;

const root = document.getElementById('app')!;
const notice = h('p', { id: 'notice', role: 'status' });

function tell(text: string, kind: 'ok' | 'error' = 'ok'): void {
  notice.textContent = text;
  notice.className = kind;
  notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

/** Runs a request of the page, turning every failure into words. */
async function attempt(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    // The request builder checks every field before anything is sent; its detail names the field and the rule.
    if (error instanceof MessageError) return tell(`Please check what you typed (${error.detail}).`, 'error');
    tell(error instanceof NoAnswer ? NO_ANSWER : NETWORK_DOWN, 'error');
  }
}

/** Shows a screen: its header, the notice line, its content. */
function screen(header: HTMLElement, main: HTMLElement): void {
  root.replaceChildren(header, notice, main);
}

// ---------------------------------------------------------------- sign up and log in (7.1, 7.2)

function authScreen(config: RacConfig): void {
  const suffix = `@${config.domain}`;
  const idField = (name: string) =>
    h(
      'label',
      {},
      h('span', {}, 'User ID'),
      h(
        'span',
        { class: 'with-suffix' },
        h('input', { name, required: '', autocomplete: 'username' }),
        h('span', {}, suffix),
      ),
    );
  const signUpForm = h(
    'form',
    { 'aria-label': 'Sign up' },
    h('h2', {}, 'New here? Sign up'),
    idField('user'),
    field('Password', 'password', { type: 'password', autocomplete: 'new-password' }),
    field('Your name', 'displayName'),
    field('PIN (6–12 digits)', 'pin', { type: 'password', inputmode: 'numeric' }),
    h('button', { type: 'submit' }, 'Sign up'),
  );
  const logInForm = h(
    'form',
    { 'aria-label': 'Log in' },
    h('h2', {}, 'Log in'),
    idField('user'),
    field('Password', 'password', { type: 'password', autocomplete: 'current-password' }),
    field('PIN', 'pin', { type: 'password', inputmode: 'numeric' }),
    h('button', { type: 'submit' }, 'Log in'),
  );
  signUpForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const local = value(signUpForm, 'user');
    const password = value(signUpForm, 'password');
    const displayName = value(signUpForm, 'displayName');
    const pin = value(signUpForm, 'pin');
    // Checked before the account is created, so that a bad PIN does not leave half a sign-up behind.
    if (!nameSchema.safeParse(displayName).success)
      return tell('Your name must be 1 to 64 characters.', 'error');
    if (!pinSchema.safeParse(pin).success) return tell('The PIN must be 6 to 12 digits.', 'error');
    void attempt(async () => {
      tell('Creating your account…');
      const created = await signUp(config.accountServer, `${local}${suffix}`, password);
      if (!created.ok) return tell(created.reason, 'error');
      await (await logIn(config, local, password))?.join(displayName, pin);
    });
  });
  logInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void attempt(async () => {
      tell('Logging in…');
      const local = value(logInForm, 'user');
      const app = await logIn(config, local, value(logInForm, 'password'));
      await app?.confirmPin(value(logInForm, 'pin'), local);
    });
  });
  screen(h('header', {}, h('h1', {}, 'Smart lock')), h('main', { class: 'auth' }, logInForm, signUpForm));
}

async function logIn(config: RacConfig, local: string, password: string): Promise<Home | undefined> {
  let session: XmppSession;
  try {
    session = await XmppSession.login(config.websocket, config.domain, local, password);
  } catch (error) {
    tell(loginFailure(error instanceof LoginError ? error.reason : 'unreachable'), 'error');
    return undefined;
  }
  return new Home(config, session, `${local}@${config.domain}`);
}

// ---------------------------------------------------------------- the signed-in user's screen

interface Gateway {
  /** Its device ID's local part, as the RAS names it (`#bgw-hall`). */
  id: string;
  online: boolean;
}

class Home {
  readonly ras: RasClient;
  private readonly gateways = new Map<string, Gateway>();
  private readonly locks: LockStore;
  /** Lock ID by the id of the lockControl waiting for its commandResult. */
  private readonly commands = new Map<string, string>();
  private readonly binding = new Map<string, (stanza: Element) => void>();
  private readonly pinState = h('span', { class: 'pin-state' }, 'PIN not confirmed');
  private readonly gatewayList = h('ul', { class: 'gateways', 'aria-label': 'Gateways' });
  private readonly discovered = h('div', { class: 'discovered' });
  private readonly lockList = h('div', { class: 'locks' });

  constructor(
    private readonly config: RacConfig,
    private readonly session: XmppSession,
    readonly userId: string,
  ) {
    this.locks = new LockStore(userId);
    this.ras = new RasClient(session, config.ras);
    this.ras.onPush((push) => this.pushed(push));
    session.onStanza((stanza) => this.stanza(stanza));
    session.onClose(() => tell(NETWORK_DOWN, 'error'));
    session.send(`<iq type='get' id='${session.id('roster')}'><query xmlns='${NS_ROSTER}'/></iq>`);
    session.send('<presence/>');
    this.render();
    void attempt(() => this.sync());
  }

  /**
   * The locks as the RAS knows them (lockList), in place of what this browser remembered: a login elsewhere, a
   * grant made or ended meanwhile. A user who has not joined the application yet has none to list.
   */
  private async sync(): Promise<void> {
    const listed = await this.ras.ask('lockList', {});
    if (listed.status !== 1000) return;
    this.locks.replaceAll(
      listed.body!.locks.map((lock) => ({
        lockId: lock.lockId,
        name: lock.name,
        role: lock.role === 'owner' ? 'owner' : 'guest',
        ...(lock.gatewayId === undefined ? {} : { gatewayId: lock.gatewayId }),
        ...(lock.from === undefined ? {} : { from: lock.from }),
        ...(lock.until === undefined ? {} : { until: lock.until }),
        ...(lock.state === undefined ? {} : { state: lock.state }),
        ...(lock.battery === undefined ? {} : { battery: lock.battery }),
        grants: Object.fromEntries(
          (lock.grants ?? []).map((g) => [g.grantee, { from: g.from, until: g.until }]),
        ),
      })),
    );
    this.renderLocks();
  }

  /** 7.1: joins the smart-lock application with a display name and a PIN, then confirms the PIN. */
  async join(displayName: string, pin: string): Promise<void> {
    const joined = await this.ras.ask('userRegister', { displayName, pin });
    if (joined.status !== 1000) return tell(rasFailure(joined.status), 'error');
    await this.confirmPin(pin);
  }

  /**
   * 7.2: the PIN step-up that sensitive operations need. An IRSP user who never joined the application joins with
   * this PIN when `joinAs` (a display name) is given: logging in is enough for someone who has an IRSP account.
   */
  async confirmPin(pin: string, joinAs?: string): Promise<void> {
    const answer = await this.ras.ask('userAuthenticate', { pin });
    if (answer.status === STATUS.userNotRegistered.code && joinAs !== undefined)
      return this.join(joinAs, pin);
    if (answer.status !== 1000) return tell(rasFailure(answer.status), 'error');
    this.pinState.textContent = `PIN confirmed until ${when(answer.body!.validUntil)}`;
    tell(`Welcome, ${this.userId}.`);
  }

  private render(): void {
    const pinForm = h(
      'form',
      { 'aria-label': 'Confirm PIN', class: 'inline' },
      field('PIN', 'pin', { type: 'password', inputmode: 'numeric' }),
      h('button', { type: 'submit' }, 'Confirm PIN'),
    );
    pinForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void attempt(() => this.confirmPin(value(pinForm, 'pin')));
    });
    const logOut = h('button', { type: 'button' }, 'Log out');
    logOut.addEventListener('click', () => {
      this.session.onClose(() => undefined);
      this.session.close();
      authScreen(this.config);
      tell('Logged out.');
    });
    const bindForm = h(
      'form',
      { 'aria-label': 'Bind a gateway', class: 'inline' },
      field('Gateway device ID', 'gateway', { placeholder: '#bgw-hall' }),
      field('Verification code', 'code', { type: 'password' }),
      h('button', { type: 'submit' }, 'Bind gateway'),
    );
    bindForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.bind(bindForm);
    });
    screen(
      h(
        'header',
        {},
        h('h1', {}, 'Smart lock'),
        h('p', { class: 'who' }, `Signed in as ${this.userId}`, ' · ', this.pinState),
        pinForm,
        logOut,
      ),
      h(
        'main',
        {},
        h(
          'section',
          { 'aria-label': 'Your gateways' },
          h('h2', {}, 'Gateways'),
          this.gatewayList,
          bindForm,
          this.discovered,
        ),
        h('section', { 'aria-label': 'Your locks' }, h('h2', {}, 'Locks'), this.lockList),
      ),
    );
    this.renderGateways();
    this.renderLocks();
  }

  // ------------------------------------------------------------ gateways: binding (14543-5-8 §10.5), presence

  private bind(bindForm: HTMLFormElement): void {
    const input = value(bindForm, 'gateway');
    const code = value(bindForm, 'code');
    const local = input.replace(/@.*$/, '');
    const id = local.startsWith('#') ? local : `#${local}`;
    const jid = `${id}@${this.config.domain}`;
    tell(`Binding ${id}…`);
    this.binding.set(jid, (stanza) => {
      if (stanza.getAttribute('type') === 'subscribed') {
        this.gateway(id);
        bindForm.reset();
        return tell(`Gateway ${id} is bound to you.`);
      }
      const error = [...stanza.getElementsByTagName('error')][0];
      const condition = [...(error?.children ?? [])].find((c) => c.namespaceURI === NS_STANZAS)?.localName;
      const retry = error?.getElementsByTagNameNS(NS_VERIFYCODE, 'retry')[0]?.getAttribute('after');
      tell(bindFailure(condition, retry), 'error');
    });
    this.session.send(
      `<presence to='${esc(jid)}' type='subscribe'><verifycode xmlns='${NS_VERIFYCODE}'>${esc(
        code,
      )}</verifycode></presence>`,
    );
  }

  private gateway(id: string): Gateway {
    let gateway = this.gateways.get(id);
    if (!gateway) {
      gateway = { id, online: false };
      this.gateways.set(id, gateway);
      this.renderGateways();
    }
    return gateway;
  }

  private setOnline(id: string, online: boolean): void {
    this.gateway(id).online = online;
    this.renderGateways();
  }

  private stanza(stanza: Element): void {
    const from = stanza.getAttribute('from') ?? '';
    const bare = from.replace(/\/.*$/, '');
    const device = bare.startsWith('#') && bare.endsWith(`@${this.config.domain}`);
    const id = bare.slice(0, bare.indexOf('@'));
    if (stanza.localName === 'presence' && device) {
      const type = stanza.getAttribute('type');
      const waiting = this.binding.get(bare);
      if (waiting && (type === 'subscribed' || type === 'error')) {
        this.binding.delete(bare);
        waiting(stanza);
      }
      if (type === null) this.setOnline(id, true);
      else if (type === 'unavailable') this.setOnline(id, false);
    } else if (stanza.localName === 'iq') {
      const type = stanza.getAttribute('type');
      // The roster comes from our own server only: the answer to our get, or a push (RFC 6121 §2.1.6).
      const ours = from === '' || bare === this.userId;
      const query = ours ? stanza.getElementsByTagNameNS(NS_ROSTER, 'query')[0] : undefined;
      if (type === 'get' || type === 'set') this.answer(stanza, query !== undefined && type === 'set');
      for (const item of query?.getElementsByTagNameNS(NS_ROSTER, 'item') ?? []) {
        const jid = item.getAttribute('jid') ?? '';
        if (!jid.startsWith('#') || !jid.endsWith(`@${this.config.domain}`)) continue;
        const itemId = jid.slice(0, jid.indexOf('@'));
        if (item.getAttribute('subscription') === 'remove') {
          this.gateways.delete(itemId);
          this.renderGateways();
        } else if (item.getAttribute('subscription') === 'both') this.gateway(itemId);
      }
    }
  }

  /**
   * Every iq get or set is answered (RFC 6120 §8.2.3): a roster push and the server's XEP-0199 ping — which ends an
   * idle stream when unanswered — with a result, anything else with service-unavailable.
   */
  private answer(iq: Element, rosterPush: boolean): void {
    const to = iq.getAttribute('from');
    const id = esc(iq.getAttribute('id') ?? '');
    const address = to ? ` to='${esc(to)}'` : '';
    const ping = iq.getElementsByTagNameNS(NS_PING, 'ping').length > 0;
    this.session.send(
      rosterPush || ping
        ? `<iq type='result' id='${id}'${address}/>`
        : `<iq type='error' id='${id}'${address}><error type='cancel'><service-unavailable xmlns='${NS_STANZAS}'/></error></iq>`,
    );
  }

  private renderGateways(): void {
    this.gatewayList.replaceChildren(
      ...[...this.gateways.values()].map((gateway) => {
        const discover = h('button', { type: 'button' }, 'Find locks');
        discover.addEventListener('click', () => void attempt(() => this.discover(gateway.id)));
        return h(
          'li',
          { 'aria-label': `Gateway ${gateway.id}` },
          h('strong', {}, gateway.id),
          ' ',
          h('span', { class: gateway.online ? 'online' : 'offline' }, gateway.online ? 'online' : 'offline'),
          ' ',
          discover,
        );
      }),
    );
    if (this.gateways.size === 0)
      this.gatewayList.append(
        h('li', {}, 'No gateway yet: bind one with its device ID and verification code.'),
      );
  }

  // ------------------------------------------------------------ 7.3 discovery, 7.4 registration (Figure 6)

  private async discover(gatewayId: string): Promise<void> {
    tell(`Looking for locks near ${gatewayId}…`);
    const found = await this.ras.ask('lockDiscover', { gatewayId, seconds: DISCOVERY_S });
    if (found.status !== 1000) return tell(rasFailure(found.status), 'error');
    const locks = found.body!.locks;
    tell(
      locks.length === 0
        ? `No lock heard near ${gatewayId}.`
        : `${locks.length} lock${locks.length > 1 ? 's' : ''} heard near ${gatewayId}.`,
    );
    this.discovered.replaceChildren(
      h('h3', {}, `Locks heard by ${gatewayId}`),
      h(
        'ul',
        { 'aria-label': 'Locks found' },
        ...locks.map((lock) => {
          const li = h(
            'li',
            { 'aria-label': `Found lock ${lock.lockId}` },
            h('code', {}, lock.lockId),
            ` signal ${lock.rssi} dBm · `,
            lock.registered ? 'already registered' : 'not registered',
          );
          if (!lock.registered) li.append(this.registerForm(gatewayId, lock.lockId));
          return li;
        }),
      ),
    );
  }

  private registerForm(gatewayId: string, lockId: string): HTMLFormElement {
    const form = h(
      'form',
      { 'aria-label': `Register lock ${lockId}`, class: 'inline' },
      field('Activation code', 'activationCode', { autocomplete: 'off' }),
      field('Name', 'name', { value: 'Front door' }),
      h('button', { type: 'submit' }, 'Register lock'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void attempt(async () => {
        tell(`Registering ${lockId}…`);
        const proven = await this.ras.ask('lockAuthenticate', {
          gatewayId,
          lockId,
          activationCode: value(form, 'activationCode').toUpperCase(),
        });
        if (proven.status !== 1000) return tell(rasFailure(proven.status), 'error');
        const registered = await this.ras.ask('lockRegister', {
          gatewayId,
          lockId,
          name: value(form, 'name'),
        });
        if (registered.status !== 1000) return tell(rasFailure(registered.status), 'error');
        const { name } = registered.body!;
        this.locks.put({ lockId, name, role: 'owner', gatewayId, grants: {} });
        this.discovered.replaceChildren();
        this.renderLocks();
        tell(`${name} is registered to you (${proven.body!.model}, firmware ${proven.body!.firmware}).`);
      });
    });
    return form;
  }

  // ------------------------------------------------------------ locks: Figure 7 control, sharing, audit, 7.5

  private renderLocks(): void {
    const locks = this.locks.all();
    this.lockList.replaceChildren(
      ...(locks.length === 0
        ? [h('p', {}, 'No lock yet: bind a gateway, find a lock and register it.')]
        : locks.map((lock) => this.lockCard(lock))),
    );
  }

  private lockCard(lock: KnownLock): HTMLElement {
    const control = (action: 'lock' | 'unlock', label: string) => {
      const button = h('button', { type: 'button' }, label);
      button.addEventListener('click', () => void attempt(() => this.control(lock, action)));
      return button;
    };
    const card = h(
      'article',
      { 'aria-label': lock.name, class: 'lock' },
      h('h3', {}, lock.name),
      h('p', { class: 'lock-id' }, 'Lock ID ', h('code', {}, lock.lockId)),
      h(
        'p',
        {},
        lock.role === 'owner'
          ? 'You own this lock.'
          : `Shared with you from ${when(lock.from!)} until ${when(lock.until!)}.`,
      ),
      h(
        'p',
        { class: 'state' },
        'State: ',
        h('output', { 'aria-label': 'State', class: lock.state ?? 'unknown' }, stateText(lock.state)),
        lock.battery === undefined ? '' : ` · Battery ${lock.battery} %`,
      ),
      h('div', { class: 'controls' }, control('unlock', 'Unlock'), control('lock', 'Lock')),
    );
    if (lock.role === 'owner') card.append(this.sharing(lock), this.ownerTools(lock));
    return card;
  }

  private async control(lock: KnownLock, action: 'lock' | 'unlock'): Promise<void> {
    const deadline = isoSeconds(Date.now() + COMMAND_DEADLINE_S * 1000);
    const before = lock.state;
    this.locks.update(lock.lockId, { state: action === 'unlock' ? 'unlocking' : 'locking' });
    this.renderLocks();
    tell(`${action === 'unlock' ? 'Unlocking' : 'Locking'} ${lock.name}…`);
    const answer = await this.ras.ask('lockControl', { lockId: lock.lockId, action, deadline });
    if (answer.status === 1001) {
      this.commands.set(answer.id!, lock.lockId);
      return;
    }
    // Refused before reaching the lock: the bolt is where it was.
    this.locks.update(lock.lockId, { state: before });
    this.renderLocks();
    tell(rasFailure(answer.status), 'error');
  }

  private sharing(lock: KnownLock): HTMLElement {
    const now = Date.now();
    const form = h(
      'form',
      { 'aria-label': `Share ${lock.name}`, class: 'inline' },
      field('Share with (user ID)', 'grantee', { placeholder: `bob@${this.config.domain}` }),
      field('From (UTC)', 'from', { type: 'datetime-local', step: '1', value: utcInputValue(now) }),
      field('Until (UTC)', 'until', {
        type: 'datetime-local',
        step: '1',
        value: utcInputValue(now + 3_600_000),
      }),
      h('button', { type: 'submit' }, 'Share'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const input = value(form, 'grantee');
      const grantee = input.includes('@') ? input : `${input}@${this.config.domain}`;
      const from = isoSeconds(Date.parse(`${value(form, 'from')}Z`));
      const until = isoSeconds(Date.parse(`${value(form, 'until')}Z`));
      void attempt(async () => {
        if (!(from < until)) return tell('The access must end after it starts.', 'error');
        tell(`Sharing ${lock.name} with ${grantee}…`);
        const granted = await this.ras.ask('grantAccess', { lockId: lock.lockId, grantee, from, until });
        if (granted.status !== 1000) return tell(rasFailure(granted.status), 'error');
        this.locks.update(lock.lockId, { grants: { ...lock.grants, [grantee]: { from, until } } });
        this.renderLocks();
        tell(`${grantee} can use ${lock.name} from ${when(from)} until ${when(until)}.`);
      });
    });
    const grants = Object.entries(lock.grants);
    return h(
      'div',
      { class: 'sharing' },
      h('h4', {}, 'Shared with'),
      grants.length === 0
        ? h('p', {}, 'Nobody.')
        : h(
            'ul',
            { 'aria-label': 'Shared with' },
            ...grants.map(([grantee, window]) => {
              const revoke = h('button', { type: 'button' }, 'Revoke');
              revoke.addEventListener('click', () => void attempt(() => this.revoke(lock, grantee)));
              return h(
                'li',
                { 'aria-label': `Access of ${grantee}` },
                `${grantee}: ${when(window.from)} – ${when(window.until)}`,
                Date.parse(window.until) <= Date.now() ? ' (ended) ' : ' ',
                revoke,
              );
            }),
          ),
      form,
    );
  }

  private async revoke(lock: KnownLock, grantee: string): Promise<void> {
    const revoked = await this.ras.ask('revokeAccess', { lockId: lock.lockId, grantee });
    if (revoked.status !== 1000) return tell(rasFailure(revoked.status), 'error');
    const grants = { ...lock.grants };
    delete grants[grantee];
    this.locks.update(lock.lockId, { grants });
    this.renderLocks();
    tell(`${grantee} can no longer use ${lock.name}.`);
  }

  private ownerTools(lock: KnownLock): HTMLElement {
    const log = h('div', { class: 'audit' });
    const read = h('button', { type: 'button' }, 'Show audit log');
    read.addEventListener(
      'click',
      () =>
        void attempt(async () => {
          const answer = await this.ras.ask('auditLog', { lockId: lock.lockId, limit: 20 });
          if (answer.status !== 1000) return tell(rasFailure(answer.status), 'error');
          log.replaceChildren(auditTable(lock.name, answer.body!.entries));
        }),
    );
    const remove = h('button', { type: 'button', class: 'danger' }, 'Remove lock');
    remove.addEventListener(
      'click',
      () =>
        void attempt(async () => {
          tell(`Removing ${lock.name}…`);
          const answer = await this.ras.ask('lockRemove', { lockId: lock.lockId });
          if (answer.status !== 1000) return tell(rasFailure(answer.status), 'error');
          this.locks.remove(lock.lockId);
          this.renderLocks();
          tell(`${lock.name} is removed: the lock no longer holds your user ID or anyone else's.`);
        }),
    );
    return h('div', { class: 'owner-tools' }, read, remove, log);
  }

  // ------------------------------------------------------------ Table 2 pushes

  private pushed(push: Push): void {
    switch (push.event) {
      case 'commandResult': {
        const lockId = this.commands.get(push.requestId);
        if (!lockId) return;
        this.commands.delete(push.requestId);
        const battery = push.battery ?? this.locks.get(lockId)?.battery;
        this.locks.update(lockId, { state: push.state, battery });
        this.renderLocks();
        const name = this.locks.get(lockId)?.name ?? lockId;
        if (push.status === 1000) tell(`${name} is ${stateText(push.state).toLowerCase()}.`);
        else tell(rasFailure(push.status), 'error');
        return;
      }
      case 'lockState': {
        const known = this.locks.get(push.lockId);
        if (!known) return;
        this.locks.update(push.lockId, { state: push.state, battery: push.battery });
        this.renderLocks();
        return tell(`${known.name} is now ${stateText(push.state).toLowerCase()}.`);
      }
      case 'batteryLow':
        this.locks.update(push.lockId, { battery: push.battery });
        this.renderLocks();
        return tell(`The battery of ${this.locks.get(push.lockId)?.name ?? push.lockId} is low.`, 'error');
      case 'accessGranted':
        if (push.grantee !== this.userId) return;
        this.locks.put({
          lockId: push.lockId,
          name: `Shared lock ${push.lockId}`,
          role: 'guest',
          from: push.from,
          until: push.until,
          grants: {},
        });
        this.renderLocks();
        return tell(`A lock was shared with you until ${when(push.until)}.`);
      case 'accessRevoked':
        if (push.grantee !== this.userId) return;
        this.locks.remove(push.lockId);
        this.renderLocks();
        return tell('Your access to a shared lock was withdrawn.');
      case 'lockRemoved':
        this.locks.remove(push.lockId);
        return this.renderLocks();
      case 'gatewayOnline':
      case 'gatewayOffline':
        return this.setOnline(push.gatewayId, push.event === 'gatewayOnline');
      case 'lockRegistered':
        return;
    }
  }
}

function stateText(state: KnownLock['state']): string {
  switch (state) {
    case 'locked':
      return 'Locked';
    case 'unlocked':
      return 'Unlocked';
    case 'jammed':
      return 'Jammed';
    case 'locking':
      return 'Locking…';
    case 'unlocking':
      return 'Unlocking…';
    default:
      return 'Unknown';
  }
}

function auditTable(name: string, entries: ResponseBody<'auditLog'>['entries']): HTMLElement {
  return h(
    'table',
    { 'aria-label': `Audit log of ${name}` },
    h('caption', {}, `Audit log of ${name} (newest first)`),
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Who'), h('th', {}, 'What'), h('th', {}, 'Result')),
    ),
    h(
      'tbody',
      {},
      ...entries.map((entry) =>
        h(
          'tr',
          {},
          h('td', {}, when(entry.at)),
          h('td', {}, entry.userId),
          h('td', {}, entry.action),
          h('td', {}, statusByCode(entry.status)?.message ?? String(entry.status)),
        ),
      ),
    ),
  );
}

loadConfig().then(authScreen, () => {
  screen(h('header', {}, h('h1', {}, 'Smart lock')), h('main', {}));
  tell('The smart-lock service is not configured. Please try again later.', 'error');
});
