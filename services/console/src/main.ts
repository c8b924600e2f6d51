/**
 * The operator console (decision 0023): a login form for an operator of the topology, then the IRSP as the account
 * server sees it, refreshed every few seconds: services and their health, sessions, outboxes, federation links,
 * refusals and metric plots.
 */
import './style.css';
import { applicationServerTarget } from '@irsp/protocol/browser';
import { ConsoleApi, type Overview } from './api.js';
import { h } from './dom.js';
import { age, count, megabytes, milliseconds, perSecond, since, when } from './format.js';
import { linePlot, sparkline } from './plot.js';

const REFRESH_MS = 3_000;

type As = Overview['autonomousSystems'][number];
type Series = Overview['history']['series'][number];

const api = new ConsoleApi();
const root = document.getElementById('app')!;
let timer: number | undefined;
/** Bumped at every login and logout: a refresh still in flight from before is dropped. */
let generation = 0;

function notice(text: string, kind: 'ok' | 'error' | '' = ''): HTMLElement {
  return h('p', { id: 'notice', role: kind === 'error' ? 'alert' : 'status', class: kind }, text);
}

function showLogin(message = '', kind: 'ok' | 'error' | '' = ''): void {
  window.clearTimeout(timer);
  generation += 1;
  const form = h(
    'form',
    { 'aria-label': 'Log in', class: 'login' },
    h(
      'label',
      {},
      h('span', {}, 'Operator'),
      h('input', { name: 'name', autocomplete: 'username', required: '' }),
    ),
    h(
      'label',
      {},
      h('span', {}, 'Password'),
      h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: '' }),
    ),
    h('button', { type: 'submit' }, 'Log in'),
  );
  const status = notice(message, kind);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const password = String(data.get('password') ?? '');
    status.replaceWith(notice('Logging in…'));
    void api.logIn(name, password).then((result) => {
      if (result.ok) return showConsole(name, result.overview);
      const failed = notice(result.message, 'error');
      document.getElementById('notice')?.replaceWith(failed);
    });
  });
  root.replaceChildren(
    h(
      'main',
      { class: 'login-page' },
      h('h1', {}, 'IRSP operator console'),
      h(
        'p',
        { class: 'hint' },
        'Log in with an operator of the topology (the same as for the admin API and irsp).',
      ),
      form,
      status,
    ),
  );
  form.querySelector('input')?.focus();
}

function showConsole(operator: string, overview: Overview): void {
  const logout = h('button', { type: 'button', class: 'secondary' }, 'Log out');
  logout.addEventListener('click', () => {
    api.logOut();
    showLogin('Logged out.', 'ok');
  });
  const body = h('main', { id: 'overview' });
  const updated = h('span', { class: 'updated' });
  const status = notice('');
  root.replaceChildren(
    h(
      'header',
      {},
      h('h1', {}, 'IRSP operator console'),
      h('span', { class: 'who' }, `Operator ${operator}`),
      updated,
      logout,
    ),
    status,
    body,
  );
  const render = (o: Overview) => {
    updated.textContent = `Updated ${when(o.at)}`;
    body.replaceChildren(...overviewSections(o));
  };
  render(overview);
  const current = ++generation;
  const refresh = () => {
    timer = window.setTimeout(() => {
      void api.overview().then((result) => {
        if (current !== generation) return;
        if (!api.loggedIn) return showLogin(result.ok ? '' : result.message, 'error');
        if (result.ok) {
          render(result.overview);
          document.getElementById('notice')?.replaceWith(notice(''));
        } else document.getElementById('notice')?.replaceWith(notice(result.message, 'error'));
        refresh();
      });
    }, REFRESH_MS);
  };
  refresh();
}

function badge(ready: boolean, detail: string | null): HTMLElement {
  return h(
    'span',
    { class: `badge ${ready ? 'up' : 'down'}`, ...(detail ? { title: detail } : {}) },
    ready ? 'healthy' : 'down',
  );
}

function table(
  caption: string,
  headings: readonly string[],
  rows: readonly HTMLTableRowElement[],
  empty: string,
) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, ...headings.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, ...rows),
  );
}

const seriesOf = (o: Overview, metric: Series['metric'], service: string, label: string | null = null) =>
  o.history.series.find((s) => s.metric === metric && s.service === service && s.label === label)?.values ??
  [];

function servicesTable(o: Overview, as: As): HTMLElement {
  const row = (key: string, kind: string, url: string, ready: boolean, detail: string | null) =>
    h(
      'tr',
      { 'data-service': key },
      h('td', {}, key.split('/').pop()!),
      h('td', {}, kind),
      h('td', { class: 'url' }, url),
      h('td', { class: 'status' }, badge(ready, detail)),
      h('td', { class: 'detail' }, detail ?? ''),
    );
  return table(
    'Services',
    ['Service', 'Kind', 'URL', 'Health', ''],
    [
      ...as.messageServers.map((ms) =>
        row(`${as.domain}/${ms.id}`, 'message server', ms.url, ms.ready, ms.detail),
      ),
      ...as.applicationServers.map((app) =>
        row(`${as.domain}/${app.name}`, `application server (${app.jid})`, app.url, app.ready, app.detail),
      ),
    ],
    'No services.',
  );
}

function sessionsPanel(o: Overview, as: As): HTMLElement {
  return h(
    'div',
    { class: 'panel' },
    h('h3', {}, 'Sessions'),
    ...as.messageServers.map((ms) =>
      h(
        'div',
        { 'data-sessions': `${as.domain}/${ms.id}` },
        h(
          'p',
          { class: 'count' },
          `${ms.id}: `,
          h('strong', {}, ms.sessions === null ? 'unknown' : String(ms.sessions.length)),
          ms.sessions === null ? '' : ms.sessions.length === 1 ? ' session' : ' sessions',
        ),
        ms.sessions && ms.sessions.length > 0
          ? h(
              'ul',
              { class: 'sessions' },
              ...ms.sessions.map((s) =>
                h(
                  'li',
                  {},
                  h('code', {}, s.jid),
                  ` for ${since(s.since, o.at)}`,
                  s.remoteAddress ? ` from ${s.remoteAddress}` : '',
                ),
              ),
            )
          : undefined,
      ),
    ),
  );
}

/** `application-server:default` as `default`; the account server as such. */
const receiverName = (target: string) =>
  target.startsWith(applicationServerTarget('')) ? target.slice(applicationServerTarget('').length) : target;

function outboxPanel(o: Overview, as: As): HTMLElement {
  const rows = new Map((as.outbox ?? []).map((b) => [b.target, b]));
  // Every application server has a row, with nothing waiting or not; other receivers only while something waits.
  const targets = [
    ...new Set([...as.applicationServers.map((a) => applicationServerTarget(a.name)), ...rows.keys()]),
  ];
  return h(
    'div',
    { class: 'panel' },
    h('h3', {}, 'Outbox'),
    as.outbox === null
      ? h('p', { class: 'empty' }, 'No message server answered.')
      : table(
          `Outbox of ${as.domain}`,
          ['Receiver', 'Waiting', 'Oldest', 'Trend', 'Last error'],
          targets.map((target) => {
            const b = rows.get(target);
            return h(
              'tr',
              { 'data-outbox': `${as.domain}/${target}` },
              h('td', {}, receiverName(target)),
              h('td', { class: 'waiting num' }, String(b?.count ?? 0)),
              h('td', { class: 'num' }, b ? age(b.oldestAgeSeconds) : '–'),
              h(
                'td',
                {},
                sparkline(
                  seriesOf(o, 'outbox', as.domain, target),
                  `Outbox trend of ${receiverName(target)}`,
                ),
              ),
              h('td', { class: 'detail' }, b?.lastError ?? ''),
            );
          }),
          'Nothing waits.',
        ),
    as.deadLetters ? h('p', { class: 'error' }, `${as.deadLetters} dead letters`) : undefined,
  );
}

function federationPanel(o: Overview, as: As): HTMLElement {
  const links = as.messageServers.flatMap((ms) => (ms.s2s ?? []).map((l) => ({ ms: ms.id, ...l })));
  return h(
    'div',
    { class: 'panel' },
    h('h3', {}, 'Federation (s2s)'),
    table(
      `s2s links of ${as.domain}`,
      ['Peer', 'Direction', 'Authentication', 'Since'],
      links.map((l) =>
        h(
          'tr',
          { 'data-s2s': `${as.domain}/${l.peer}/${l.direction}` },
          h('td', {}, l.peer),
          h('td', {}, l.direction),
          h('td', {}, l.method),
          h('td', {}, since(l.since, o.at)),
        ),
      ),
      'No s2s link now.',
    ),
  );
}

function plots(o: Overview): HTMLElement {
  const lines = (metric: Series['metric'], name: (s: Series) => string) =>
    o.history.series.filter((s) => s.metric === metric).map((s) => ({ name: name(s), values: s.values }));
  const byService = (s: Series) => s.service;
  return h(
    'section',
    { 'aria-labelledby': 'metrics' },
    h('h2', { id: 'metrics' }, `Metrics, sampled every ${o.history.intervalSeconds} s (last hour)`),
    o.history.at.length === 0
      ? h('p', { class: 'empty' }, 'No sample yet.')
      : h(
          'div',
          { class: 'charts' },
          linePlot({
            title: 'XMPP sessions',
            at: o.history.at,
            lines: lines('sessions', byService),
            format: count,
          }),
          linePlot({
            title: 'Outbox backlog',
            at: o.history.at,
            lines: lines('outbox', (s) => `${receiverName(s.label ?? '')} (${s.service})`),
            format: count,
          }),
          linePlot({
            title: 'Requests served (IRSP operations)',
            at: o.history.at,
            lines: lines('requests', byService),
            format: perSecond,
          }),
          linePlot({
            title: 'Memory (RSS)',
            at: o.history.at,
            lines: lines('memory', byService),
            format: megabytes,
          }),
          linePlot({
            title: 'Event loop lag (p99)',
            at: o.history.at,
            lines: lines('eventLoopLag', byService),
            format: milliseconds,
          }),
        ),
  );
}

function refusals(o: Overview): HTMLElement {
  return h(
    'section',
    { 'aria-labelledby': 'refusals' },
    h('h2', { id: 'refusals' }, 'Recent refusals'),
    table(
      'Failed password and verification code checks, newest first',
      ['When', 'Server', 'Checked', 'Account or operator', 'Source'],
      o.failedLogins.map((f) =>
        h(
          'tr',
          {},
          h('td', {}, when(f.at)),
          h('td', {}, f.server),
          h('td', {}, f.scope),
          h('td', {}, h('code', {}, f.target)),
          h('td', {}, f.source),
        ),
      ),
      'No failed login recently.',
    ),
  );
}

function overviewSections(o: Overview): HTMLElement[] {
  return [
    h(
      'section',
      { 'aria-labelledby': 'topology' },
      h('h2', { id: 'topology' }, 'Topology'),
      h(
        'table',
        { class: 'compact' },
        h(
          'tbody',
          {},
          h(
            'tr',
            { 'data-service': 'account-server' },
            h('th', { scope: 'row' }, 'Account server'),
            h('td', { class: 'url' }, o.accountServer.url),
            h('td', { class: 'status' }, badge(o.accountServer.ready, o.accountServer.detail)),
          ),
        ),
      ),
      ...o.autonomousSystems.map((as) =>
        h(
          'article',
          { class: 'as', 'data-as': as.domain, 'aria-label': `AS ${as.domain}` },
          h(
            'h3',
            {},
            `AS ${as.domain} `,
            badge(
              as.messageServers.every((m) => m.ready) && as.applicationServers.every((a) => a.ready),
              null,
            ),
          ),
          servicesTable(o, as),
          h('div', { class: 'panels' }, sessionsPanel(o, as), outboxPanel(o, as), federationPanel(o, as)),
        ),
      ),
    ),
    plots(o),
    refusals(o),
  ];
}

showLogin();
