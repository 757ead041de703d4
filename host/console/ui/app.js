// siphon operator console: the shell (login, navigation, page routing by #hash). Plain ES modules and
// custom elements, no build step; the pages are in pages.js and trace.js, the API helpers in api.js.
import { h, session, statusLine } from './api.js';
import './pages.js';
import './trace.js';

const PAGES = [
  ['overview', 'Overview', 'page-overview'],
  ['registrations', 'Registrations', 'page-registrations'],
  ['dispatcher', 'Dispatcher', 'page-dispatcher'],
  ['secfilter', 'Secfilter', 'page-secfilter'],
  ['pike', 'Pike', 'page-pike'],
  ['plugins', 'Plugins', 'page-plugins'],
  ['cdrs', 'CDRs', 'page-cdrs'],
  ['trace', 'Live trace', 'page-trace'],
];

class SiphonConsole extends HTMLElement {
  async connectedCallback() {
    try {
      const r = await fetch('/console/api/session', { credentials: 'same-origin' });
      if (r.ok) {
        Object.assign(session, await r.json());
        return this.showApp();
      }
    } catch {
      // not reachable: the login form says so when used
    }
    this.showLogin();
  }

  showLogin(message = '') {
    const status = statusLine();
    const form = h('form', { class: 'login', 'aria-labelledby': 'login-title' },
      h('h1', { id: 'login-title' }, 'siphon console'),
      h('label', { for: 'user' }, 'User'),
      h('input', { id: 'user', name: 'user', autocomplete: 'username', required: true }),
      h('label', { for: 'password' }, 'Password'),
      h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
      h('button', { type: 'submit' }, 'Log in'),
      status);
    if (message) status.show(message, true);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const r = await fetch('/console/api/login', {
        method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: form.user.value, password: form.password.value }),
      });
      const body = await r.json().catch(() => ({}));
      if (!r.ok) return status.show(body.error ? body.error.message : `HTTP ${r.status}`, true);
      Object.assign(session, body);
      this.showApp();
    });
    this.replaceChildren(h('main', { class: 'login-page' }, form));
    form.user.focus();
  }

  showApp() {
    const nav = h('nav', { 'aria-label': 'Pages' }, h('ul', {}, PAGES.map(([id, title]) => h('li', {}, h('a', { href: `#${id}`, 'data-page': id }, title)))));
    const logout = h('button', { type: 'button', class: 'secondary', onclick: () => this.logout() }, 'Log out');
    const header = h('header', {}, h('span', { class: 'brand' }, 'siphon'), nav, h('span', { class: 'who' }, `${session.user} (${session.role})`), logout);
    this.main = h('main', { id: 'main', tabindex: '-1' });
    this.replaceChildren(h('a', { class: 'skip', href: '#main' }, 'Skip to content'), header, this.main);
    window.onhashchange = () => this.route();
    this.route();
  }

  route() {
    const id = location.hash.slice(1) || 'overview';
    const page = PAGES.find((p) => p[0] === id) ?? PAGES[0];
    for (const a of this.querySelectorAll('nav a')) {
      if (a.dataset.page === page[0]) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${page[1]} · siphon console`;
    this.main.replaceChildren(h('h1', {}, page[1]), document.createElement(page[2]));
  }

  async logout() {
    await fetch('/console/api/logout', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf }, body: '{}' });
    session.csrf = '';
    location.hash = '';
    this.showLogin();
  }
}

customElements.define('siphon-console', SiphonConsole);
