// The record server's web app: plain JavaScript, no framework, no build step. Every view is
// drawn from the JSON API (docs/server-api.md); what comes from recordings and users is put
// into the page as text (textContent), never as markup. Changes send the session's CSRF token.
'use strict';

(function () {
  var me = null;
  // A message for the next view (a change that moves to another view says what it did).
  var pending = '';
  var view = document.getElementById('view');
  var PAGE = 25;
  var ACTIONS = ['login', 'login_failed', 'logout', 'search', 'listen', 'download', 'delete',
    'legal_hold', 'legal_hold_release', 'retention_change', 'disposal', 'user_add', 'user_change',
    'user_remove', 'token_add', 'token_revoke', 'device_add', 'device_change', 'device_remove'];
  var ROLES = ['admin', 'supervisor', 'auditor'];
  // A token may also read /metrics only (for Prometheus).
  var TOKEN_ROLES = ROLES.concat(['metrics']);

  // ---- small helpers ----

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    });
    (kids || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function has(role) {
    return !!me && me.roles.indexOf(role) >= 0;
  }

  function pad(n, w) {
    var s = String(n);
    while (s.length < (w || 2)) s = '0' + s;
    return s;
  }

  function time(ms) {
    if (ms === null || ms === undefined) return '';
    var d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  function duration(ms) {
    var s = Math.floor((ms || 0) / 1000);
    return Math.floor(s / 3600) + ':' + pad(Math.floor(s / 60) % 60) + ':' + pad(s % 60);
  }

  function bytes(n) {
    if (n === null || n === undefined) return 'unknown';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }

  function flash(text, bad) {
    var f = document.getElementById('flash');
    f.textContent = text;
    f.className = bad ? 'bad' : 'ok';
    f.hidden = !text;
  }

  // A request to the API: resolves to {status, headers, data}; rejects with an Error whose
  // .code is the server's stable code.
  function api(method, path, body) {
    var headers = { 'Accept': 'application/json' };
    if (method !== 'GET' && me && me.csrf) headers['X-CSRF-Token'] = me.csrf;
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      if (r.status === 401) {
        window.location.assign('/login');
        throw new Error('logged out');
      }
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var msg = data && (data.message || data.error) || ('HTTP ' + r.status);
          var err = new Error(msg);
          err.code = data && (data.message ? data.error : data.code) || String(r.status);
          err.status = r.status;
          throw err;
        }
        return { status: r.status, headers: r.headers, data: data };
      });
    });
  }

  function failed(where) {
    return function (e) {
      if (where) where.textContent = e.message;
      else flash(e.message, true);
    };
  }

  function section(title, kids, id) {
    return el('section', { class: 'panel', id: id }, [el('h2', { text: title })].concat(kids));
  }

  function field(label, input) {
    return el('label', {}, [label, input]);
  }

  function dl(pairs) {
    var d = el('dl', { class: 'facts' });
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === '') return;
      d.appendChild(el('dt', { text: p[0] }));
      d.appendChild(el('dd', p[2] ? { id: p[2] } : {}, [typeof p[1] === 'object' ? p[1] : String(p[1])]));
    });
    return d;
  }

  function table(id, heads, rows) {
    var thead = el('thead', {}, [el('tr', {}, heads.map(function (h) {
      return typeof h === 'string' ? el('th', { text: h }) : h;
    }))]);
    return el('div', { class: 'scroll' }, [el('table', { id: id, class: 'grid' }, [thead, el('tbody', {}, rows)])]);
  }

  function cell(label, kids, cls) {
    return el('td', { 'data-label': label, class: cls }, kids);
  }

  function roleBoxes(prefix, chosen, roles) {
    return el('fieldset', { class: 'roles' }, [el('legend', { text: 'Roles' })].concat((roles || ROLES).map(function (r) {
      return el('label', { class: 'check' }, [
        el('input', { type: 'checkbox', name: prefix + '-role', value: r, checked: chosen.indexOf(r) >= 0 }), r]);
    })));
  }

  function checkedRoles(form, prefix) {
    return Array.prototype.slice.call(form.querySelectorAll('input[name="' + prefix + '-role"]:checked'))
      .map(function (i) { return i.value; });
  }

  function groupsOf(text) {
    return text.split(',').map(function (g) { return g.trim(); }).filter(function (g) { return g; });
  }

  function params(query) {
    return new URLSearchParams(query || '');
  }

  // ---- the router ----

  function route() {
    var hash = window.location.hash.replace(/^#/, '') || '/';
    var q = hash.indexOf('?');
    var path = q >= 0 ? hash.slice(0, q) : hash;
    var query = q >= 0 ? hash.slice(q + 1) : '';
    flash(pending);
    pending = '';
    clear(view);
    Array.prototype.forEach.call(document.querySelectorAll('#nav a'), function (a) {
      a.classList.toggle('current', a.getAttribute('href') === '#' + path);
    });
    var m = path.match(/^\/rec\/([^/]+)$/);
    if (m) return recording(decodeURIComponent(m[1]));
    var views = {
      '/audit': [has('auditor'), audit],
      '/users': [has('admin'), users],
      '/tokens': [has('admin'), tokens],
      '/devices': [has('admin'), devices],
      '/retention': [has('admin'), retention],
      '/storage': [has('admin'), storage]
    };
    if (views[path]) {
      if (views[path][0]) return views[path][1](query);
      return view.appendChild(el('p', { class: 'bad', text: 'Your role does not include this view.' }));
    }
    if (has('supervisor') || has('admin')) return search(query);
    if (has('auditor')) return audit(query);
    view.appendChild(el('p', { text: 'Your account has no role that shows anything here.' }));
  }

  // ---- recordings: the search ----

  function search(query) {
    var p = params(query);
    var form = el('form', { id: 'search', class: 'filters' });
    function input(label, name, type, extra) {
      var attrs = { id: 'f-' + name, name: name, type: type || 'search', value: p.get(name) || '' };
      Object.keys(extra || {}).forEach(function (k) { attrs[k] = extra[k]; });
      form.appendChild(field(label, el('input', attrs)));
    }
    function select(label, name, options) {
      var s = el('select', { id: 'f-' + name, name: name }, options.map(function (o) {
        return el('option', { value: o[0], text: o[1], selected: (p.get(name) || '') === o[0] });
      }));
      form.appendChild(field(label, s));
    }
    input('Number', 'number', 'search', { inputmode: 'tel', maxlength: 64, placeholder: 'part of a number' });
    select('Match', 'number_match', [['', 'anywhere'], ['prefix', 'at the start']]);
    input('Name', 'name', 'search', { maxlength: 128 });
    // One field for a device or its owner: a MAC asks by device, anything else by owner.
    var who = el('input', { id: 'f-who', type: 'search', maxlength: 256, list: 'owners',
      placeholder: 'a MAC, or the whole owner', value: p.get('device') || p.get('owner') || '' });
    var owners = el('datalist', { id: 'owners' });
    form.appendChild(field('Device or owner', who));
    form.appendChild(owners);
    input('Group', 'group', 'search', { maxlength: 128 });
    select('Direction', 'dir', [['', 'any'], ['in', 'in'], ['out', 'out']]);
    input('From', 'from', 'datetime-local');
    input('To', 'to', 'datetime-local');
    input('Min s', 'min_duration', 'number', { min: 0 });
    input('Max s', 'max_duration', 'number', { min: 0 });
    select('Order', 'order', [['', 'newest first'], ['oldest', 'oldest first']]);
    form.appendChild(el('div', { class: 'actions' }, [
      el('button', { id: 'f-submit', type: 'submit', text: 'Search' }),
      el('a', { href: '#/', text: 'Clear' })]));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var out = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (i) {
        if (i.name && i.value.trim()) out.set(i.name, i.value.trim());
      });
      var w = who.value.trim();
      if (w) out.set(isMac(w) ? 'device' : 'owner', w);
      window.location.hash = '#/?' + out.toString();
    });
    var summary = el('p', { id: 'summary', class: 'muted', text: 'Searching…' });
    var results = el('div', { id: 'results' });
    var pager = el('nav', { id: 'pager', class: 'pager' });
    view.appendChild(section('Recordings', [form, summary, results, pager], 'search-view'));
    if (has('supervisor') || has('admin')) view.appendChild(holdAll(p));

    var ask = new URLSearchParams(p.toString());
    ask.set('limit', String(PAGE));
    api('GET', '/api/recordings?' + ask.toString()).then(function (r) {
      var rows = r.data || [];
      var total = Number(r.headers.get('X-Total-Count') || rows.length);
      summary.textContent = total + ' recording' + (total === 1 ? '' : 's') +
        (rows.length < total ? '; ' + rows.length + ' shown' : '');
      if (rows.length) results.appendChild(recordingTable(rows, p));
      offerOwners(owners, rows.map(function (v) { return v.owner; }));
      var next = r.headers.get('X-Next-Cursor');
      if (p.get('cursor')) {
        var first = new URLSearchParams(p.toString());
        first.delete('cursor');
        pager.appendChild(el('a', { id: 'page-first', href: '#/?' + first.toString(), text: '« First page' }));
      }
      if (next) {
        var more = new URLSearchParams(p.toString());
        more.set('cursor', next);
        pager.appendChild(el('a', { id: 'page-next', href: '#/?' + more.toString(), text: 'Next page »' }));
      }
    }).catch(failed(summary));
  }

  // The spellings of a MAC callrec_core::mac reads: 12 hex digits, six pairs joined by one
  // `:` or `-` throughout, or three groups of four joined by `.`.
  function isMac(t) {
    return /^[0-9a-f]{12}$/i.test(t) || /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(t) ||
      /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(t);
  }

  // The owners to pick from: the registry's for an admin (GET /api/devices is theirs), and
  // the owners of the recordings shown.
  function offerOwners(list, seen) {
    function fill(names) {
      var have = {};
      Array.prototype.forEach.call(list.options, function (o) { have[o.value] = true; });
      names.forEach(function (n) {
        if (n && !have[n]) { have[n] = true; list.appendChild(el('option', { value: n })); }
      });
    }
    fill(seen);
    if (has('admin')) {
      api('GET', '/api/devices').then(function (r) {
        fill((r.data || []).map(function (d) { return d.owner; }).sort());
      }).catch(function () {});
    }
  }

  // Legal hold on every recording the search matches (in the caller's scope), all pages.
  function holdAll(p) {
    var filters = new URLSearchParams(p.toString());
    ['cursor', 'offset', 'limit', 'order'].forEach(function (k) { filters.delete(k); });
    var reason = el('input', { id: 'hold-all-reason', maxlength: 500, placeholder: 'case, ticket, request', required: true });
    var err = el('p', { id: 'hold-all-error', class: 'bad' });
    var form = el('form', { id: 'hold-all', class: 'inline', onsubmit: function (ev) {
      ev.preventDefault();
      err.textContent = '';
      api('POST', '/api/holds', { query: filters.toString(), reason: reason.value }).then(function (r) {
        pending = r.data.held + ' of ' + r.data.matched + ' matching recording' +
          (r.data.matched === 1 ? '' : 's') + ' put on hold.';
        route();
      }).catch(failed(err));
    } }, [field('Reason', reason), el('button', { id: 'hold-all-set', type: 'submit', text: 'Hold every match' })]);
    return section('Legal hold on this search', [el('p', { class: 'muted',
      text: 'Every recording the search above matches, on every page, is kept until an admin releases it.' }), form, err], 'hold-all-panel');
  }

  function recordingTable(rows, p) {
    var oldest = p.get('order') === 'oldest';
    var flip = new URLSearchParams(p.toString());
    flip.delete('cursor');
    if (oldest) flip.delete('order'); else flip.set('order', 'oldest');
    var sort = el('th', {}, [el('a', { id: 'sort-time', href: '#/?' + flip.toString(),
      title: 'Sort by time', text: 'Start ' + (oldest ? '▲' : '▼') })]);
    return table('recordings', [sort, 'Remote', 'Local', 'Owner', 'Dir', 'Duration', 'Integrity', 'Hold'],
      rows.map(function (v) {
        return el('tr', { 'data-rid': v.rid }, [
          cell('Start', [el('a', { href: '#/rec/' + encodeURIComponent(v.rid), class: 'open', text: v.start_local })], 'num'),
          cell('Remote', [v.remote_number, el('span', { class: 'sub', text: v.remote_name })]),
          cell('Local', [v.local_number, el('span', { class: 'sub', text: v.local_name })]),
          cell('Owner', [v.owner || v.device, el('span', { class: 'sub', text: v.group })]),
          cell('Dir', [v.dir]),
          cell('Duration', [v.in_progress ? el('span', { class: 'live', text: 'recording' }) : duration(v.duration_ms)], 'num'),
          cell('Integrity', [integrity(v.integrity)]),
          cell('Hold', [v.hold ? el('span', { class: 'held', text: 'on hold' }) : ''])
        ]);
      }));
  }

  function integrity(state) {
    var cls = state === 'verified' ? 'ok' : (state === 'missing' || state === 'mismatch') ? 'bad' : '';
    return el('span', { class: cls, text: String(state || '').replace('_', ' ') });
  }

  // ---- one recording ----

  function recording(rid) {
    var path = '/api/recordings/' + encodeURIComponent(rid);
    var back = el('p', {}, [el('a', { href: '#/', text: '« Recordings' })]);
    view.appendChild(back);
    api('GET', path).then(function (r) {
      var v = r.data;
      var head = el('section', { class: 'panel', id: 'rec' }, [
        el('h2', { id: 'rec-title', text: (v.remote_name || v.remote_number || 'Recording') + ' · ' + v.start_local })]);
      if (has('supervisor')) {
        var player = el('audio', { id: 'player', controls: true, preload: 'metadata', src: v.audio_url });
        var links = el('p', { class: 'links' }, [el('a', { id: 'download-wav', href: v.download_url, download: '', text: 'Download WAV' })]);
        (v.originals || []).forEach(function (u, i) {
          links.appendChild(el('a', { class: 'original', href: u, download: '', text: 'Original ' + (i + 1) }));
        });
        head.appendChild(player);
        head.appendChild(links);
      }
      head.appendChild(dl([
        ['Remote', [v.remote_number, v.remote_name].filter(Boolean).join(' · ')],
        ['Local', [v.local_number, v.local_name].filter(Boolean).join(' · ')],
        ['Direction', v.dir], ['Codec', v.codec],
        ['Device', v.device], ['Owner', v.owner], ['Extension', v.extension], ['Group', v.group],
        ['Start', v.start_local], ['End', v.in_progress ? 'in progress' : time(v.stop_ms)],
        ['Ended by', v.stop_reason], ['Duration', duration(v.duration_ms)],
        ['Phone', v.peer], ['Call id', v.id], ['Recording', v.rid],
        ['Deleted after', v.delete_after_ms ? time(v.delete_after_ms) : null]
      ]));
      view.appendChild(head);
      view.appendChild(stats(v));
      view.appendChild(checks(v));
      view.appendChild(hold(v, path));
      if (has('admin')) view.appendChild(remove(v, path));
      if (has('auditor') || has('supervisor')) view.appendChild(history(path));
    }).catch(failed(back));
  }

  function stats(v) {
    var s = v.stats || {};
    var names = [['received', 'Received'], ['lost', 'Lost'], ['reordered', 'Reordered'],
      ['duplicates', 'Duplicates'], ['late', 'Late'], ['malformed', 'Malformed'],
      ['from_strangers', 'From strangers'], ['flood_dropped', 'Flood dropped']];
    return section('Packets', [dl(names.map(function (n) { return [n[1], String(s[n[0]] || 0)]; }))], 'stats');
  }

  function checks(v) {
    var rows = Object.keys(v.checks || {}).map(function (name) {
      var c = v.checks[name];
      return el('tr', {}, [cell('File', [name]), cell('State', [integrity(c.state)])]);
    });
    var kids = [dl([['State', integrity(v.integrity), 'integrity-state'],
      ['Last check', v.checked_ms ? time(v.checked_ms) : 'never']])];
    if (rows.length) kids.push(table('checks', ['File', 'State'], rows));
    return section('Integrity', kids, 'integrity');
  }

  function hold(v, path) {
    var state = el('p', { id: 'hold-state' });
    var err = el('p', { id: 'hold-error', class: 'bad' });
    var kids = [state];
    if (v.hold) {
      state.textContent = 'On hold since ' + time(v.hold.ms) + ' by ' + v.hold.by + ': ' + v.hold.reason;
      state.className = 'held';
      if (has('admin')) {
        var why = el('input', { id: 'hold-release-reason', maxlength: 500, placeholder: 'why it is released', required: true });
        kids.push(el('form', { class: 'inline', onsubmit: function (ev) {
          ev.preventDefault();
          api('DELETE', path + '/hold', { reason: why.value }).then(function () { route(); flash('Hold released.'); })
            .catch(failed(err));
        } }, [field('Reason', why), el('button', { id: 'hold-release', type: 'submit', text: 'Release the hold' })]));
      }
    } else {
      state.textContent = 'Not on hold.';
      if (has('supervisor') || has('admin')) {
        var reason = el('input', { id: 'hold-reason', maxlength: 500, placeholder: 'case, ticket, request', required: true });
        kids.push(el('form', { class: 'inline', onsubmit: function (ev) {
          ev.preventDefault();
          api('PUT', path + '/hold', { reason: reason.value }).then(function () { route(); flash('On hold.'); })
            .catch(failed(err));
        } }, [field('Reason', reason), el('button', { id: 'hold-set', type: 'submit', text: 'Put on hold' })]));
      }
    }
    kids.push(err);
    return section('Legal hold', kids, 'hold');
  }

  function remove(v, path) {
    var reason = el('input', { id: 'delete-reason', maxlength: 500, placeholder: 'why it is deleted', required: true });
    var err = el('p', { id: 'delete-error', class: 'bad' });
    var form = el('form', { class: 'inline', onsubmit: function (ev) {
      ev.preventDefault();
      err.textContent = '';
      api('DELETE', path, { reason: reason.value }).then(function () {
        pending = 'Recording ' + v.rid + ' deleted.';
        window.location.hash = '#/';
      }).catch(failed(err));
    } }, [field('Reason', reason), el('button', { id: 'delete', type: 'submit', class: 'danger', text: 'Delete for good' })]);
    return section('Delete', [el('p', { class: 'muted', text: 'Removes the files, the sidecar and the catalog row. Refused while on hold.' }), form, err], 'delete-panel');
  }

  function history(path) {
    var box = el('div', { id: 'history-list' }, [el('p', { class: 'muted', text: 'Loading…' })]);
    api('GET', path + '/audit?limit=200').then(function (r) {
      clear(box).appendChild(auditTable('history', r.data.entries || []));
    }).catch(failed(box));
    return section('History', [box], 'history');
  }

  function auditTable(id, entries) {
    if (!entries.length) return el('p', { class: 'muted', text: 'No entries.' });
    return table(id, ['#', 'Time', 'Who', 'From', 'Action', 'Recording', 'What'], entries.map(function (e) {
      return el('tr', { 'data-seq': e.seq, 'data-action': e.action }, [
        cell('#', [String(e.seq)], 'num'), cell('Time', [time(e.ms)], 'num'), cell('Who', [e.who]),
        cell('From', [e.from]), cell('Action', [e.action]),
        cell('Recording', [e.rid ? el('a', { href: '#/rec/' + encodeURIComponent(e.rid), text: e.rid }) : '']),
        cell('What', [el('code', { text: typeof e.what === 'string' ? e.what : JSON.stringify(e.what) })], 'what')]);
    }));
  }

  // ---- the audit trail ----

  function audit(query) {
    var p = params(query);
    var form = el('form', { id: 'audit-filters', class: 'filters' });
    function input(label, name, type) {
      form.appendChild(field(label, el('input', { id: 'audit-' + name, name: name, type: type || 'search', value: p.get(name) || '' })));
    }
    input('Since', 'since', 'datetime-local');
    input('Until', 'until', 'datetime-local');
    form.appendChild(field('Action', el('select', { id: 'audit-action', name: 'action' },
      [el('option', { value: '', text: 'any' })].concat(ACTIONS.map(function (a) {
        return el('option', { value: a, text: a, selected: p.get('action') === a });
      })))));
    input('Who', 'who');
    input('Recording', 'rid');
    form.appendChild(el('div', { class: 'actions' }, [el('button', { id: 'audit-submit', type: 'submit', text: 'Filter' }),
      el('a', { href: '#/audit', text: 'Clear' })]));
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var out = new URLSearchParams();
      Array.prototype.forEach.call(form.elements, function (i) {
        if (i.name && i.value.trim()) out.set(i.name, i.value.trim());
      });
      window.location.hash = '#/audit?' + out.toString();
    });
    var filters = new URLSearchParams(p.toString());
    filters.delete('after');
    var csv = new URLSearchParams(filters.toString());
    csv.set('format', 'csv');
    var js = new URLSearchParams(filters.toString());
    js.set('format', 'json');
    js.set('limit', '1000');
    var exports = el('p', { class: 'links' }, ['Export: ',
      el('a', { id: 'export-csv', href: '/api/audit?' + csv.toString(), download: 'audit.csv', text: 'CSV' }),
      el('a', { id: 'export-json', href: '/api/audit?' + js.toString(), download: 'audit.json', text: 'JSON' })]);
    var box = el('div', { id: 'audit-list' }, [el('p', { class: 'muted', text: 'Loading…' })]);
    var pager = el('nav', { class: 'pager' });
    view.appendChild(section('Audit trail', [form, exports, box, pager], 'audit-view'));
    var ask = new URLSearchParams(p.toString());
    ask.set('limit', '100');
    api('GET', '/api/audit?' + ask.toString()).then(function (r) {
      clear(box).appendChild(auditTable('audit', r.data.entries || []));
      if (p.get('after')) pager.appendChild(el('a', { href: '#/audit?' + filters.toString(), text: '« From the start' }));
      if (r.data.next !== null && r.data.next !== undefined) {
        var more = new URLSearchParams(filters.toString());
        more.set('after', String(r.data.next));
        pager.appendChild(el('a', { id: 'audit-next', href: '#/audit?' + more.toString(), text: 'Later entries »' }));
      }
    }).catch(failed(box));
  }

  // ---- admin: users ----

  function users() {
    var box = el('div', { id: 'users-list' });
    var err = el('p', { id: 'user-error', class: 'bad' });
    var name = el('input', { id: 'new-user', maxlength: 64, required: true, autocomplete: 'off' });
    var pw = el('input', { id: 'new-password', type: 'password', minlength: 10, required: true, autocomplete: 'new-password' });
    var groups = el('input', { id: 'new-groups', placeholder: 'every group', maxlength: 500 });
    var add = el('form', { id: 'user-form', class: 'stack' }, [field('Name', name), field('Password', pw),
      roleBoxes('new', ['supervisor']), field('Groups (comma-separated)', groups),
      el('button', { id: 'user-add', type: 'submit', text: 'Add user' }), err]);
    add.addEventListener('submit', function (ev) {
      ev.preventDefault();
      err.textContent = '';
      api('POST', '/api/users', { name: name.value, password: pw.value, roles: checkedRoles(add, 'new'),
        groups: groupsOf(groups.value) }).then(function (r) {
        flash('User ' + r.data.name + ' added.');
        add.reset();
        load();
      }).catch(failed(err));
    });
    var cname = el('input', { id: 'change-user', maxlength: 64, required: true });
    var cpw = el('input', { id: 'change-password', type: 'password', placeholder: 'unchanged', autocomplete: 'new-password' });
    var cgroups = el('input', { id: 'change-groups', placeholder: 'every group' });
    var cerr = el('p', { id: 'change-error', class: 'bad' });
    var change = el('form', { id: 'user-change-form', class: 'stack' }, [field('Name', cname),
      roleBoxes('change', []), field('Groups (comma-separated)', cgroups), field('New password', cpw),
      el('button', { id: 'user-change', type: 'submit', text: 'Save changes' }), cerr]);
    change.addEventListener('submit', function (ev) {
      ev.preventDefault();
      cerr.textContent = '';
      var body = {};
      var roles = checkedRoles(change, 'change');
      if (roles.length) { body.roles = roles; body.groups = groupsOf(cgroups.value); }
      if (cpw.value) body.password = cpw.value;
      api('PUT', '/api/users/' + encodeURIComponent(cname.value), body).then(function () {
        flash('User ' + cname.value + ' changed.');
        change.reset();
        load();
      }).catch(failed(cerr));
    });
    function load() {
      api('GET', '/api/users').then(function (r) {
        clear(box).appendChild(table('users', ['Name', 'Roles', 'Groups', ''], r.data.map(function (u) {
          return el('tr', { 'data-name': u.name }, [cell('Name', [u.name]), cell('Roles', [u.roles.join(', ')]),
            cell('Groups', [u.groups.length ? u.groups.join(', ') : 'every group']),
            cell('', [el('button', { type: 'button', class: 'edit', text: 'Edit', onclick: function () {
              cname.value = u.name;
              cgroups.value = u.groups.join(', ');
              Array.prototype.forEach.call(change.querySelectorAll('input[name="change-role"]'), function (i) {
                i.checked = u.roles.indexOf(i.value) >= 0;
              });
              cname.scrollIntoView();
            } }), el('button', { type: 'button', class: 'remove danger', text: 'Remove', onclick: function () {
              api('DELETE', '/api/users/' + encodeURIComponent(u.name)).then(function () {
                flash('User ' + u.name + ' removed.');
                load();
              }).catch(failed());
            } })], 'buttons')]);
        })));
      }).catch(failed(box));
    }
    view.appendChild(section('Users', [box], 'users-view'));
    view.appendChild(section('Add a user', [add]));
    view.appendChild(section('Change a user', [change]));
    load();
  }

  // ---- admin: tokens ----

  function tokens() {
    var box = el('div', { id: 'tokens-list' });
    var err = el('p', { id: 'token-error', class: 'bad' });
    var shown = el('div', { id: 'token-shown', class: 'secret', hidden: true });
    var name = el('input', { id: 'token-name', maxlength: 100, required: true });
    var groups = el('input', { id: 'token-groups', placeholder: 'every group' });
    var days = el('input', { id: 'token-expires', type: 'number', min: 1, max: 36500, placeholder: 'never' });
    var form = el('form', { id: 'token-form', class: 'stack' }, [field('Name', name), roleBoxes('token', ['supervisor'], TOKEN_ROLES),
      field('Groups (comma-separated)', groups), field('Expires after (days)', days),
      el('button', { id: 'token-add', type: 'submit', text: 'Make a token' }), err]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      err.textContent = '';
      var body = { name: name.value, roles: checkedRoles(form, 'token'), groups: groupsOf(groups.value) };
      if (days.value) body.expires_days = Number(days.value);
      api('POST', '/api/tokens', body).then(function (r) {
        clear(shown).appendChild(el('p', { text: 'Token ' + r.data.id + ' (' + r.data.name + '). Copy it now: it is shown only once.' }));
        shown.appendChild(el('code', { id: 'token-secret', text: r.data.token }));
        shown.hidden = false;
        form.reset();
        load();
      }).catch(failed(err));
    });
    function load() {
      api('GET', '/api/tokens').then(function (r) {
        clear(box).appendChild(table('tokens', ['Id', 'Name', 'State', 'Roles', 'Groups', 'By', 'Made', 'Expires', ''], r.data.map(function (t) {
          return el('tr', { 'data-id': t.id }, [cell('Id', [t.id]), cell('Name', [t.name]), cell('State', [t.state]),
            cell('Roles', [t.roles.join(', ')]), cell('Groups', [t.groups.length ? t.groups.join(', ') : 'every group']),
            cell('By', [t.by]), cell('Made', [time(t.created_ms)], 'num'), cell('Expires', [t.expires_ms ? time(t.expires_ms) : 'never'], 'num'),
            cell('', [t.state === 'live' ? el('button', { type: 'button', class: 'revoke danger', text: 'Revoke', onclick: function () {
              api('DELETE', '/api/tokens/' + encodeURIComponent(t.id)).then(function () {
                flash('Token ' + t.id + ' revoked.');
                load();
              }).catch(failed());
            } }) : ''], 'buttons')]);
        })));
      }).catch(failed(box));
    }
    view.appendChild(section('API tokens', [shown, box], 'tokens-view'));
    view.appendChild(section('Make a token', [form]));
    load();
  }

  // ---- admin: devices ----

  function devices() {
    var box = el('div', { id: 'devices-list' });
    var err = el('p', { id: 'device-error', class: 'bad' });
    var mac = el('input', { id: 'dev-mac', required: true, placeholder: '00:15:65:AA:BB:CC', maxlength: 17 });
    var owner = el('input', { id: 'dev-owner', required: true, maxlength: 128 });
    var ext = el('input', { id: 'dev-ext', maxlength: 32 });
    var group = el('input', { id: 'dev-group', maxlength: 64 });
    var form = el('form', { id: 'device-form', class: 'stack' }, [field('MAC', mac), field('Owner', owner),
      field('Extension', ext), field('Group', group), el('button', { id: 'dev-save', type: 'submit', text: 'Save device' }), err]);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      err.textContent = '';
      api('PUT', '/api/devices/' + encodeURIComponent(mac.value.trim()), { owner: owner.value, extension: ext.value, group: group.value })
        .then(function (r) { flash('Device ' + r.data.mac + ' saved.'); form.reset(); load(); }).catch(failed(err));
    });
    function load() {
      api('GET', '/api/devices').then(function (r) {
        if (!r.data.length) return clear(box).appendChild(el('p', { class: 'muted', text: 'No device registered.' }));
        clear(box).appendChild(table('devices', ['MAC', 'Owner', 'Extension', 'Group', 'Updated', ''], r.data.map(function (d) {
          return el('tr', { 'data-mac': d.mac }, [cell('MAC', [d.mac], 'num'), cell('Owner', [d.owner]), cell('Extension', [d.extension]),
            cell('Group', [d.group]), cell('Updated', [time(d.updated_ms)], 'num'),
            cell('', [el('button', { type: 'button', class: 'edit', text: 'Edit', onclick: function () {
              mac.value = d.mac; owner.value = d.owner; ext.value = d.extension; group.value = d.group;
              mac.scrollIntoView();
            } }), el('button', { type: 'button', class: 'remove danger', text: 'Remove', onclick: function () {
              api('DELETE', '/api/devices/' + encodeURIComponent(d.mac)).then(function () { flash('Device ' + d.mac + ' removed.'); load(); })
                .catch(failed());
            } })], 'buttons')]);
        })));
      }).catch(failed(box));
    }
    view.appendChild(section('Devices', [box], 'devices-view'));
    view.appendChild(section('Add or change a device', [form]));
    load();
  }

  // ---- admin: retention ----

  function retention() {
    var err = el('p', { id: 'ret-error', class: 'bad' });
    var count = el('p', { id: 'ret-count', role: 'status' });
    var days = el('input', { id: 'ret-days', type: 'number', min: 1, placeholder: 'for ever' });
    var list = el('div', { id: 'ret-groups', class: 'stack' });
    var apply = el('button', { id: 'ret-apply', type: 'button', class: 'danger', disabled: true, text: 'Apply' });
    var tried = null;
    function addGroup(g, d) {
      var gi = el('input', { class: 'ret-group', value: g || '', placeholder: 'group', maxlength: 64 });
      var di = el('input', { class: 'ret-group-days', type: 'number', min: 1, value: d || '', placeholder: 'days' });
      var row = el('div', { class: 'pair' }, [gi, di, el('button', { type: 'button', text: 'Remove', onclick: function () {
        list.removeChild(row); changed();
      } })]);
      list.appendChild(row);
    }
    function body(dry) {
      var groups = {};
      Array.prototype.forEach.call(list.querySelectorAll('.pair'), function (row) {
        var g = row.querySelector('.ret-group').value.trim();
        var d = row.querySelector('.ret-group-days').value;
        if (g && d) groups[g] = Number(d);
      });
      return { days: days.value ? Number(days.value) : null, groups: groups, dry_run: dry };
    }
    function changed() {
      apply.disabled = true;
      tried = null;
      count.textContent = '';
    }
    days.addEventListener('input', changed);
    list.addEventListener('input', changed);
    var dry = el('button', { id: 'ret-dry', type: 'button', text: 'Dry run', onclick: function () {
      err.textContent = '';
      var b = body(true);
      api('PUT', '/api/retention', b).then(function (r) {
        tried = JSON.stringify(body(false));
        count.textContent = r.data.would_delete + ' recording' + (r.data.would_delete === 1 ? '' : 's') +
          ' would be deleted by this retention.';
        apply.disabled = false;
      }).catch(failed(err));
    } });
    apply.addEventListener('click', function () {
      var b = body(false);
      if (JSON.stringify(b) !== tried) return changed();
      api('PUT', '/api/retention', b).then(function (r) {
        flash('Retention applied; ' + r.data.would_delete + ' recording(s) past it.');
        changed();
      }).catch(failed(err));
    });
    var form = el('div', { class: 'stack' }, [field('Keep recordings (days; empty: for ever)', days),
      el('h3', { text: 'Per group' }), list,
      el('button', { id: 'ret-add-group', type: 'button', text: 'Add a group', onclick: function () { addGroup(); changed(); } }),
      el('div', { class: 'actions' }, [dry, apply]), count, err]);
    view.appendChild(section('Retention', [form], 'retention-view'));
    api('GET', '/api/retention').then(function (r) {
      days.value = r.data.days === null ? '' : String(r.data.days);
      Object.keys(r.data.groups || {}).forEach(function (g) { addGroup(g, r.data.groups[g]); });
    }).catch(failed(err));
  }

  // ---- admin: storage ----

  function storage() {
    var box = el('div', { id: 'storage' }, [el('p', { class: 'muted', text: 'Loading…' })]);
    view.appendChild(section('Storage', [box], 'storage-view'));
    api('GET', '/api/storage').then(function (r) {
      var s = r.data;
      clear(box).appendChild(dl([
        ['Free space', bytes(s.free_bytes), 'storage-free'],
        ['Reserve', bytes(s.reserve_bytes)],
        ['State', s.full ? 'full: new calls are refused' : 'accepting calls'],
        ['Recordings', String(s.recordings), 'storage-count'],
        ['Oldest recording', s.oldest_rid ? el('a', { href: '#/rec/' + encodeURIComponent(s.oldest_rid), text: time(s.oldest_start_ms) }) : 'none', 'storage-oldest']
      ]));
    }).catch(failed(box));
  }

  // ---- start ----

  function start() {
    api('GET', '/api/me').then(function (r) {
      me = r.data;
      document.getElementById('whoami').textContent = me.name + ' (' + me.roles.join(', ') + ')';
      Array.prototype.forEach.call(document.querySelectorAll('#nav a'), function (a) {
        a.hidden = !a.getAttribute('data-role').split(' ').some(has);
      });
      var out = document.getElementById('logout');
      out.hidden = me.kind !== 'user';
      out.addEventListener('click', function () {
        api('POST', '/logout').catch(function () { return null; }).then(function () {
          window.location.assign('/login');
        });
      });
      window.addEventListener('hashchange', route);
      route();
    }).catch(failed());
  }

  document.addEventListener('DOMContentLoaded', start);
}());
