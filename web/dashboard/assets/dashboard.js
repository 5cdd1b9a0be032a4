// Rapport dashboard: takes the sign-in token from the URL fragment (never sent
// to a server), keeps it in this tab's sessionStorage, asks the server for one
// view at a time with it in the Authorization header, and forgets the token
// and every figure on sign-out. Views arrive as server-rendered HTML; this
// script only fetches them, wires the settings form and builds CSV downloads
// from the tables already on the page.
(function () {
  'use strict';
  var KEY = 'rapport.dashboard.token';
  var VIEWS = ['practice', 'team', 'relationships'];
  var view = document.getElementById('view');
  var status = document.getElementById('status');
  var signin = document.getElementById('signin');
  var signout = document.getElementById('signout');

  function takeToken() {
    if (location.hash.length > 1) {
      var h = new URLSearchParams(location.hash.slice(1));
      var t = h.get('token');
      if (t) sessionStorage.setItem(KEY, t);
      // Drop the fragment so the token is not left in the address bar or history.
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem(KEY);
  }

  function currentView(params) {
    var v = params.get('view');
    return VIEWS.indexOf(v) >= 0 ? v : 'practice';
  }

  function showSignin(text) {
    view.replaceChildren();
    signout.hidden = true;
    signin.hidden = false;
    status.textContent = text || '';
    document.body.dataset.state = 'signed-out';
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    showSignin('You are signed out. Nothing from the dashboard is kept in this browser.');
  }

  async function load() {
    var token = sessionStorage.getItem(KEY);
    var params = new URLSearchParams(location.search);
    var name = currentView(params);
    params.delete('view');
    document.querySelectorAll('nav a[data-view]').forEach(function (a) {
      if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    document.body.dataset.state = 'loading';
    status.textContent = 'Loading the ' + name + ' view…';
    var headers = {};
    // Behind an identity-aware proxy the proxy adds the header itself.
    if (token) headers.Authorization = 'Bearer ' + token;
    var started = performance.now();
    var res;
    try {
      res = await fetch('/dashboard/view/' + name + '?' + params.toString(), { headers: headers, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      status.textContent = 'The dashboard could not reach the server. Please try again.';
      document.body.dataset.state = 'error';
      return;
    }
    var html = await res.text();
    if (res.status === 401) {
      sessionStorage.removeItem(KEY);
      showSignin(token ? 'Your sign-in has ended. Please sign in again.' : '');
      return;
    }
    signin.hidden = true;
    signout.hidden = false;
    view.innerHTML = html; // server-rendered by html/template, escaped there
    wire();
    var heading = view.querySelector('h2');
    document.title = (heading ? heading.textContent + ' – ' : '') + 'Rapport dashboard';
    status.textContent = res.ok ? '' : 'The view could not be shown.';
    document.body.dataset.state = res.ok ? 'ready' : 'error';
    document.body.dataset.view = name;
    document.body.dataset.drawnMs = String(Math.round(performance.now() - started));
    performance.mark('rapport-charts-drawn');
  }

  function wire() {
    view.querySelectorAll('form[data-settings]').forEach(function (form) {
      form.addEventListener('submit', function (ev) {
        ev.preventDefault();
        var params = new URLSearchParams(location.search);
        new FormData(form).forEach(function (value, key) {
          if (value === '') params.delete(key);
          else params.set(key, value);
        });
        history.pushState(null, '', location.pathname + '?' + params.toString());
        load();
      });
    });
    view.querySelectorAll('button.csv').forEach(function (b) {
      b.addEventListener('click', function () { download(b.dataset.table, b.dataset.file); });
    });
  }

  function csvCell(s) {
    s = s.replace(/\s+/g, ' ').trim();
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  // tableCSV turns an HTML table (header and body rows) into CSV text.
  function tableCSV(table) {
    var lines = [];
    table.querySelectorAll('tr').forEach(function (tr) {
      var cells = [];
      tr.querySelectorAll('th, td').forEach(function (c) { cells.push(csvCell(c.textContent)); });
      lines.push(cells.join(','));
    });
    return lines.join('\r\n') + '\r\n';
  }

  function download(id, file) {
    var table = document.getElementById(id);
    if (!table) return;
    var url = URL.createObjectURL(new Blob([tableCSV(table)], { type: 'text/csv;charset=utf-8' }));
    var a = document.createElement('a');
    a.href = url;
    a.download = file;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  document.getElementById('signin-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var input = document.getElementById('token');
    if (!input.value.trim()) return;
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = '';
    load();
  });
  signout.addEventListener('click', signOut);
  window.addEventListener('popstate', load);
  window.rapportTableCSV = tableCSV;

  takeToken();
  load();
})();
