// The recording settings page: status, settings, recordings on the stick, the password.
// Text from the agent (file names, failure messages) is only ever set with textContent.
'use strict';

(function () {
  const MIB = 1048576;
  const STATUS_EVERY_MS = 1000;
  const RECORDINGS_EVERY_MS = 5000;

  const MODE_LABELS = {
    local: 'Local (USB stick)',
    network: 'Network (record server)',
    sip_info: 'SIP INFO (the PBX records)',
    off: 'Off',
  };
  const POLICY_LABELS = {
    never: 'Never',
    on_demand: 'On demand (record key)',
    always: 'Always (every answered call)',
    always_pause: 'Always, with pause/resume',
  };
  const POLICY_HINTS = {
    never: 'Nothing is recorded; the record key is refused.',
    on_demand: 'The record key starts and stops; the pause key pauses and resumes.',
    always: 'Every call is recorded from answer to hang-up; the keys do nothing.',
    always_pause: 'Every call is recorded from answer to hang-up; the keys pause and resume.',
  };
  const CODEC_LABELS = {
    PCMA: 'PCMA (G.711 A-law)',
    PCMU: 'PCMU (G.711 μ-law)',
    G722: 'G.722 (wideband)',
  };
  const STATE_LABELS = {
    idle: 'Idle',
    starting: 'Starting…',
    recording: 'Recording',
    paused: 'Paused',
    resuming: 'Resuming…',
    stopping: 'Stopping…',
    failed: 'Failed',
  };
  // The settings fields with an error line beside their input, and that input.
  const FIELD_INPUTS = {
    enabled: 'enabled',
    mode: 'mode',
    policy: 'policy',
    server_address: 'server_address',
    server_port: 'server_port',
    codec: 'codec',
    size_limit_bytes: 'size_limit_mib',
    reserve_bytes: 'reserve_mib',
    tone: 'tone',
    tone_interval_s: 'tone_interval_s',
    pause_on_hold: 'pause_on_hold',
  };

  const $ = function (id) {
    return document.getElementById(id);
  };

  let csrf = '';
  let mustChange = false;
  let mainStarted = false;
  let meta = null; // the last GET /api/settings answer, less its settings
  let current = null; // the settings as the agent last gave them
  let shownMib = { size: '', reserve: '' }; // what the MiB inputs showed when filled
  let lastRecordingsKey = null;
  let lastFile = null;
  let elapsed = { base: 0, at: 0, counting: false, idle: true };
  let statusTimer = null;
  let recordingsTimer = null;

  // ---- small helpers ----

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function show(el, visible) {
    el.hidden = !visible;
  }

  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  // mm:ss, or h:mm:ss from an hour on.
  function clock(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h > 0 ? h + ':' + pad2(m) + ':' + pad2(s) : pad2(m) + ':' + pad2(s);
  }

  function bytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
    if (n < 1024) return n + ' B';
    if (n < MIB) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1024 * MIB) return (n / MIB).toFixed(1) + ' MiB';
    return (n / (1024 * MIB)).toFixed(2) + ' GiB';
  }

  function label(map, value) {
    if (value === null || value === undefined || value === '') return '—';
    return Object.prototype.hasOwnProperty.call(map, value) ? map[value] : String(value);
  }

  function errorOf(res) {
    const e = res.data && res.data.error;
    if (e && typeof e === 'object') return e;
    return { code: '', message: 'HTTP ' + res.status };
  }

  function goToLogin() {
    window.location.replace('/login');
  }

  function notice(text) {
    const el = $('notice');
    setText(el, text);
    show(el, text !== '');
  }

  // ---- the API ----

  async function fetchSession() {
    const res = await request('GET', '/api/session', undefined, false);
    if (res.status === 200 && res.data) {
      csrf = String(res.data.csrf || '');
      setText($('whoami'), res.data.user ? String(res.data.user) : '');
      $('pw-user').value = res.data.user ? String(res.data.user) : '';
    }
    return res;
  }

  // One request. 401 goes to the login page; a stale CSRF token is fetched again and the
  // request retried once; `password_change_required` shows the password form.
  async function request(method, path, body, retry) {
    const headers = {};
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method: method,
      credentials: 'same-origin',
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if ((res.headers.get('Content-Type') || '').indexOf('json') >= 0) {
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
    }
    const out = { status: res.status, data: data, headers: res.headers };
    if (res.status === 401) {
      goToLogin();
      return new Promise(function () {}); // the page is going away
    }
    if (res.status === 403) {
      const code = errorOf(out).code;
      if (code === 'csrf' && retry !== false) {
        await fetchSession();
        return request(method, path, body, false);
      }
      if (code === 'password_change_required' && !mustChange) {
        mustChange = true;
        showPasswordForm();
      }
    }
    return out;
  }

  function api(method, path, body) {
    return request(method, path, body, true);
  }

  // ---- the status panel ----

  function renderStatus(s) {
    const panel = $('status');
    const state = String(s.state || 'idle');
    const shown = String(s.shown || state);
    // A failure while something still runs (a SIP INFO `Record: off` the PBX refused) keeps
    // the running state in front; its message shows all the same.
    const visual = shown === 'failed' && state === 'idle' ? 'failed' : state;
    if (panel.dataset.visual !== visual) panel.dataset.visual = visual;
    setText($('status-state'), label(STATE_LABELS, visual));

    let phone = 'The phone shows: ' + label(STATE_LABELS, shown).replace('…', '').toLowerCase();
    if (state === 'recording' && shown === 'idle') phone += ' (a silent recording)';
    setText($('status-shown'), phone);

    const failure = $('status-failure');
    const f = shown === 'failed' ? s.failure : null;
    if (f && typeof f === 'object') {
      setText(failure, String(f.message || f.code || 'recording failed'));
      failure.title = f.code ? String(f.code) : '';
      show(failure, true);
    } else {
      setText(failure, '');
      show(failure, false);
    }
    show($('status-pending'), s.settings_pending === true);

    const recordedMs = typeof s.recorded_ms === 'number' ? s.recorded_ms : 0;
    elapsed = {
      base: recordedMs,
      at: performance.now(),
      counting: state === 'recording',
      idle: state === 'idle' && !s.file,
    };
    drawElapsed();

    setText($('status-file'), s.file ? String(s.file) : '—');

    const stick = s.stick && typeof s.stick === 'object' ? s.stick : {};
    let stickText;
    if (stick.present) stickText = stick.read_only ? 'Inserted, read-only' : 'Inserted';
    else if (localUnavailable()) stickText = 'No USB port on this model';
    else stickText = 'Not inserted';
    setText($('status-stick'), stickText);
    setText($('status-free'), stick.present ? bytes(stick.free_bytes) : '—');
    setText($('status-mode'), label(MODE_LABELS, s.mode));
    setText($('status-policy'), label(POLICY_LABELS, s.policy));

    // A file that ends or begins changes the list on the stick: refresh it now.
    const file = s.file || null;
    if (file !== lastFile) {
      lastFile = file;
      scheduleRecordings(0);
    }
  }

  function drawElapsed() {
    const el = $('status-elapsed');
    let ms = elapsed.base;
    if (elapsed.counting) ms += performance.now() - elapsed.at;
    setText(el, clock(ms));
    el.classList.toggle('stale', elapsed.idle);
    el.title = elapsed.idle ? 'length of the last recording' : 'recorded time, pauses excluded';
  }

  async function pollStatus() {
    statusTimer = null;
    if (!document.hidden && !$('main').hidden) {
      try {
        const res = await api('GET', '/api/status');
        if (res.status === 200 && res.data) {
          const s = res.data.status && typeof res.data.status === 'object' ? res.data.status : res.data;
          renderStatus(s);
          connection('');
        } else if (res.status !== 403) {
          connection('Status unavailable: ' + errorOf(res).message);
        }
      } catch (e) {
        connection('The phone does not answer. Trying again…');
      }
    }
    if (statusTimer === null) statusTimer = setTimeout(pollStatus, STATUS_EVERY_MS);
  }

  function connection(text) {
    const el = $('conn-error');
    setText(el, text);
    show(el, text !== '');
  }

  // ---- the settings form ----

  function localUnavailable() {
    if (!meta || !Array.isArray(meta.modes)) return false;
    return meta.modes.some(function (m) {
      return m && m.value === 'local' && m.enabled === false;
    });
  }

  function fillSelect(select, values, labels, value) {
    select.replaceChildren();
    const seen = {};
    values.forEach(function (v) {
      const value_ = typeof v === 'object' && v !== null ? String(v.value) : String(v);
      const opt = document.createElement('option');
      opt.value = value_;
      opt.textContent = label(labels, value_);
      if (typeof v === 'object' && v !== null && v.enabled === false) {
        opt.disabled = true;
        opt.textContent += ' — not available';
      }
      seen[value_] = true;
      select.appendChild(opt);
    });
    // A value the agent has but the lists do not name is kept, not lost on save.
    if (value !== null && value !== undefined && !seen[String(value)]) {
      const opt = document.createElement('option');
      opt.value = String(value);
      opt.textContent = label(labels, String(value));
      select.appendChild(opt);
    }
    select.value = value === null || value === undefined ? '' : String(value);
  }

  function mibText(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '';
    const v = n / MIB;
    return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
  }

  function fillForm(s) {
    $('enabled').checked = s.enabled === true;
    const modes = Array.isArray(meta.modes) ? meta.modes : [
      { value: 'local' }, { value: 'network' }, { value: 'sip_info' },
    ];
    fillSelect($('mode'), modes, MODE_LABELS, s.mode);
    const policies = Array.isArray(meta.policies) ? meta.policies : Object.keys(POLICY_LABELS);
    fillSelect($('policy'), policies, POLICY_LABELS, s.policy);
    const codecs = Array.isArray(meta.codecs) ? meta.codecs : Object.keys(CODEC_LABELS);
    fillSelect($('codec'), codecs, CODEC_LABELS, s.codec);

    $('server_address').value = s.server_address === null || s.server_address === undefined
      ? '' : String(s.server_address);
    $('server_port').value = typeof s.server_port === 'number' ? String(s.server_port) : '';
    shownMib = { size: mibText(s.size_limit_bytes), reserve: mibText(s.reserve_bytes) };
    $('size_limit_mib').value = shownMib.size;
    $('reserve_mib').value = shownMib.reserve;
    $('tone').checked = s.tone === true;
    $('tone_interval_s').value = typeof s.tone_interval_s === 'number' ? String(s.tone_interval_s) : '';
    $('pause_on_hold').checked = s.pause_on_hold === true;

    const limits = meta.limits && typeof meta.limits === 'object' ? meta.limits : {};
    setRange($('server_port'), limits.server_port, 1);
    setRange($('tone_interval_s'), limits.tone_interval_s, 1);
    updateForm();
  }

  function setRange(input, range, scale) {
    if (!Array.isArray(range) || range.length !== 2) return;
    input.min = String(range[0] / scale);
    input.max = String(range[1] / scale);
  }

  // What depends on other fields: the server fields, the mode's reason, the tone interval.
  function updateForm() {
    const mode = $('mode').value;
    const network = mode === 'network';
    show($('network-fields'), network);
    ['server_address', 'server_port', 'codec'].forEach(function (id) {
      $(id).disabled = !network;
    });
    $('tone_interval_s').disabled = !$('tone').checked;
    setText($('policy-hint'), POLICY_HINTS[$('policy').value] || '');

    const reason = $('mode-reason');
    const lines = [];
    let selectedUnavailable = false;
    if (meta && Array.isArray(meta.modes)) {
      meta.modes.forEach(function (m) {
        if (m && m.enabled === false) {
          lines.push(label(MODE_LABELS, m.value) + ' is not available: ' +
            String(m.reason || 'not on this phone') + '.');
          if (m.value === mode) selectedUnavailable = true;
        }
      });
    }
    setText(reason, lines.join(' '));
    show(reason, lines.length > 0);
    reason.classList.toggle('warn', selectedUnavailable);
  }

  function clearFieldErrors() {
    Object.keys(FIELD_INPUTS).forEach(function (f) {
      setText($('err-' + f), '');
      $(FIELD_INPUTS[f]).removeAttribute('aria-invalid');
    });
    setText($('settings-other-errors'), '');
  }

  function showFieldErrors(fields) {
    const other = [];
    let first = null;
    Object.keys(fields).forEach(function (f) {
      const text = String(fields[f]);
      const line = Object.prototype.hasOwnProperty.call(FIELD_INPUTS, f) ? $('err-' + f) : null;
      const input = line ? $(FIELD_INPUTS[f]) : null;
      if (line && input.closest('[hidden]') !== null) {
        // a field the page hides (the server's, outside network mode): say it below the form
        setText(line, text);
        other.push(f + ': ' + text);
      } else if (line) {
        setText(line, text);
        input.setAttribute('aria-invalid', 'true');
        if (first === null) first = input;
      } else {
        other.push(f + ': ' + text);
      }
    });
    setText($('settings-other-errors'), other.join('; '));
    updateForm();
    if (first !== null && !first.disabled) first.focus();
  }

  // MiB from an input, as bytes: the agent's own value when the input was not touched.
  function mibToBytes(text, shown, original) {
    const t = text.trim();
    if (t === shown && typeof original === 'number') return original;
    if (t === '' || !/^\d*(\.\d*)?$/.test(t)) return null;
    const v = Number(t);
    return Number.isFinite(v) ? Math.round(v * MIB) : null;
  }

  // The whole settings object to PUT, and the errors the page can see by itself.
  function collect() {
    const out = Object.assign({}, current); // keeps fields the page does not show
    const errors = {};
    out.enabled = $('enabled').checked;
    out.mode = $('mode').value;
    out.policy = $('policy').value;
    if (out.mode === 'network') {
      const addr = $('server_address').value.trim();
      out.server_address = addr === '' ? null : addr;
      if (addr === '') errors.server_address = 'the server address is needed in network mode';
      const port = $('server_port').value.trim();
      if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
        errors.server_port = 'a port is a number from 1 to 65535';
      } else {
        out.server_port = Number(port);
      }
      out.codec = $('codec').value;
    }
    const size = mibToBytes($('size_limit_mib').value, shownMib.size, current.size_limit_bytes);
    if (size === null || size <= 0) errors.size_limit_bytes = 'a size in MiB, for example 100';
    else out.size_limit_bytes = size;
    const reserve = mibToBytes($('reserve_mib').value, shownMib.reserve, current.reserve_bytes);
    if (reserve === null) errors.reserve_bytes = 'a size in MiB, for example 16';
    else out.reserve_bytes = reserve;
    out.tone = $('tone').checked;
    const interval = $('tone_interval_s').value.trim();
    if (/^\d+$/.test(interval)) out.tone_interval_s = Number(interval);
    else if (out.tone) errors.tone_interval_s = 'a number of seconds, for example 20';
    out.pause_on_hold = $('pause_on_hold').checked;
    return { settings: out, errors: errors };
  }

  async function loadSettings() {
    const msg = $('settings-load-error');
    try {
      const res = await api('GET', '/api/settings');
      if (res.status !== 200 || !res.data || !res.data.settings) {
        if (res.status !== 403) setText(msg, 'Could not read the settings: ' + errorOf(res).message);
        return;
      }
      setText(msg, '');
      meta = res.data;
      current = Object.assign({}, res.data.settings);
      fillForm(current);
      $('save').disabled = false;
    } catch (e) {
      setText(msg, 'Could not read the settings: the phone does not answer.');
    }
  }

  async function saveSettings(event) {
    event.preventDefault();
    if (current === null) return;
    clearFieldErrors();
    const message = $('save-message');
    message.className = 'save-message';
    const c = collect();
    if (Object.keys(c.errors).length > 0) {
      showFieldErrors(c.errors);
      setText(message, 'Not saved: correct the fields marked in red.');
      message.classList.add('bad');
      return;
    }
    const save = $('save');
    save.disabled = true;
    setText(message, 'Saving…');
    try {
      const res = await api('PUT', '/api/settings', c.settings);
      const data = res.data || {};
      if (res.status === 200) {
        current = Object.assign({}, data.settings && typeof data.settings === 'object'
          ? data.settings : c.settings);
        fillForm(current);
        if (data.applied === false) {
          setText(message, 'Saved. It applies when the recording in progress ends.');
          message.classList.add('waiting');
        } else {
          setText(message, 'Saved and applied.');
          message.classList.add('good');
        }
      } else if (res.status === 400 && errorOf(res).fields) {
        showFieldErrors(errorOf(res).fields);
        setText(message, 'Not saved: correct the fields marked in red.');
        message.classList.add('bad');
      } else {
        setText(message, 'Not saved: ' + errorOf(res).message);
        message.classList.add('bad');
      }
    } catch (e) {
      setText(message, 'Not saved: the phone does not answer.');
      message.classList.add('bad');
    } finally {
      save.disabled = false;
    }
  }

  // ---- the recordings on the stick ----

  // The time in a name `Record_YYYYMMDD_HHMMSS…`: [date, time], or null.
  function recordedAt(name) {
    const m = /^Record_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})/.exec(name);
    if (!m) return null;
    return [m[1] + '-' + m[2] + '-' + m[3], m[4] + ':' + m[5] + ':' + m[6]];
  }

  // Text in pieces that do not break inside, with a break allowed between them.
  function pieces(td, parts, joiner) {
    parts.forEach(function (part, i) {
      if (i > 0) {
        if (joiner) td.appendChild(document.createTextNode(joiner));
        td.appendChild(document.createElement('wbr'));
      }
      const span = document.createElement('span');
      span.className = 'nowrap';
      span.textContent = part;
      td.appendChild(span);
    });
  }

  function cell(row, labelText, text, cls) {
    const td = document.createElement('td');
    td.setAttribute('data-label', labelText);
    if (cls) td.className = cls;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function link(cls, href, download, text, title) {
    const a = document.createElement('a');
    a.className = cls + ' button-link';
    a.href = href;
    a.setAttribute('download', download);
    a.textContent = text;
    a.title = title;
    return a;
  }

  function renderRecordings(data) {
    const stick = data.stick && typeof data.stick === 'object' ? data.stick : {};
    const list = Array.isArray(data.recordings) ? data.recordings : [];
    const body = $('recordings-body');
    body.replaceChildren();
    list.forEach(function (r) {
      const name = String(r.name);
      const path = '/api/recordings/' + encodeURIComponent(name);
      const tr = document.createElement('tr');
      tr.dataset.name = name;
      if (r.recording) tr.className = 'being-written';
      const nameCell = cell(tr, 'Name', '', 'filename');
      // break a long name only after its underscores
      pieces(nameCell, name.split('_').map(function (part, i, all) {
        return i < all.length - 1 ? part + '_' : part;
      }), '');
      if (r.recording) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = 'recording';
        nameCell.appendChild(badge);
      }
      const at = recordedAt(name);
      const timeCell = cell(tr, 'Time', at ? '' : '—', 'time');
      if (at) pieces(timeCell, at, ' ');
      cell(tr, 'Duration', typeof r.duration_ms === 'number' ? clock(r.duration_ms) : '—', 'num');
      cell(tr, 'Size', bytes(r.size), 'num');
      cell(tr, 'Codec', r.codec ? String(r.codec) : '—', '');
      const actions = cell(tr, '', '', 'actions');
      actions.appendChild(link('download-original', path, name, 'Original',
        'Download the file as stored on the stick'));
      actions.appendChild(link('download-wav', path + '/wav',
        name.replace(/\.wav$/i, '') + '.pcm.wav', 'WAV', 'Download as a WAV file to play'));
      if (!r.recording) {
        const del = document.createElement('button');
        del.type = 'button';
        del.className = 'delete danger';
        del.textContent = 'Delete';
        del.title = 'Delete ' + name;
        del.addEventListener('click', function () {
          deleteRecording(name, del);
        });
        actions.appendChild(del);
      }
      body.appendChild(tr);
    });

    const empty = $('recordings-empty');
    if (list.length === 0) {
      setText(empty, stick.present === false
        ? (localUnavailable() ? 'This phone model has no USB port.' : 'No USB stick is inserted.')
        : 'No recordings on the stick.');
    }
    show(empty, list.length === 0);
    show($('recordings'), list.length > 0);
    setText($('recordings-free'), stick.present && typeof stick.free_bytes === 'number'
      ? bytes(stick.free_bytes) + ' free' : '');
  }

  async function loadRecordings() {
    const msg = $('recordings-message');
    try {
      const res = await api('GET', '/api/recordings');
      if (res.status === 200 && res.data) {
        const key = JSON.stringify(res.data);
        if (key !== lastRecordingsKey) {
          lastRecordingsKey = key;
          renderRecordings(res.data);
        }
        if (msg.dataset.from === 'load') {
          setText(msg, '');
          delete msg.dataset.from;
        }
      } else if (res.status !== 403) {
        setText(msg, 'Could not list the recordings: ' + errorOf(res).message);
        msg.dataset.from = 'load';
      }
    } catch (e) {
      // the status line says the phone does not answer
    }
  }

  function scheduleRecordings(delay) {
    if (recordingsTimer !== null) clearTimeout(recordingsTimer);
    recordingsTimer = setTimeout(async function () {
      recordingsTimer = null;
      if (!document.hidden && !$('main').hidden) await loadRecordings();
      if (recordingsTimer === null) scheduleRecordings(RECORDINGS_EVERY_MS);
    }, delay);
  }

  async function deleteRecording(name, button) {
    if (!window.confirm('Delete ' + name + ' from the USB stick?\nThis cannot be undone.')) return;
    const msg = $('recordings-message');
    button.disabled = true;
    delete msg.dataset.from;
    try {
      const res = await api('DELETE', '/api/recordings/' + encodeURIComponent(name));
      if (res.status === 200 || res.status === 404) {
        setText(msg, '');
      } else if (res.status === 409) {
        setText(msg, name + ' is being written and cannot be deleted yet.');
      } else {
        setText(msg, 'Could not delete ' + name + ': ' + errorOf(res).message);
      }
    } catch (e) {
      setText(msg, 'Could not delete ' + name + ': the phone does not answer.');
    }
    button.disabled = false;
    lastRecordingsKey = null;
    scheduleRecordings(0);
  }

  // ---- the password ----

  function clearPasswordErrors() {
    ['err-current', 'err-new', 'err-new2', 'pw-error'].forEach(function (id) {
      setText($(id), '');
    });
    ['pw-current', 'pw-new', 'pw-new2'].forEach(function (id) {
      $(id).removeAttribute('aria-invalid');
    });
  }

  function passwordError(id, input, text) {
    setText($(id), text);
    $(input).setAttribute('aria-invalid', 'true');
  }

  function showPasswordForm() {
    show($('pw-required'), mustChange);
    show($('pw-cancel'), !mustChange);
    show($('pw-open'), false);
    show($('main'), false);
    show($('pw-section'), true);
    notice('');
    $('pw-current').focus();
  }

  function hidePasswordForm() {
    clearPasswordErrors();
    ['pw-current', 'pw-new', 'pw-new2'].forEach(function (id) {
      $(id).value = '';
    });
    show($('pw-section'), false);
    show($('pw-open'), true);
    startMain();
  }

  async function savePassword(event) {
    event.preventDefault();
    clearPasswordErrors();
    const cur = $('pw-current').value;
    const pw = $('pw-new').value;
    const pw2 = $('pw-new2').value;
    let bad = false;
    if (cur === '') {
      passwordError('err-current', 'pw-current', 'Enter the current password.');
      bad = true;
    }
    if (pw.length < 8 || pw.length > 128) {
      passwordError('err-new', 'pw-new', 'The new password needs 8 to 128 characters.');
      bad = true;
    } else if (pw === cur) {
      passwordError('err-new', 'pw-new', 'The new password must differ from the current one.');
      bad = true;
    }
    if (!bad && pw !== pw2) {
      passwordError('err-new2', 'pw-new2', 'The two new passwords are not the same.');
      bad = true;
    }
    if (bad) return;
    const button = $('pw-save');
    button.disabled = true;
    try {
      const res = await api('POST', '/api/password', { current: cur, new: pw });
      if (res.status === 200) {
        mustChange = false;
        await fetchSession();
        hidePasswordForm();
        notice('The password was changed.');
        setTimeout(function () {
          notice('');
        }, 8000);
      } else if (res.status === 400 && errorOf(res).fields) {
        const fields = errorOf(res).fields;
        if (fields.current) passwordError('err-current', 'pw-current', String(fields.current));
        if (fields.new) passwordError('err-new', 'pw-new', String(fields.new));
        if (!fields.current && !fields.new) setText($('pw-error'), errorOf(res).message);
      } else {
        setText($('pw-error'), 'Not changed: ' + errorOf(res).message);
      }
    } catch (e) {
      setText($('pw-error'), 'Not changed: the phone does not answer.');
    } finally {
      button.disabled = false;
    }
  }

  // ---- start ----

  function startMain() {
    show($('main'), true);
    if (mainStarted) return;
    mainStarted = true;
    $('save').disabled = true;
    loadSettings();
    pollStatus();
    scheduleRecordings(0);
    setInterval(function () {
      if (elapsed.counting) drawElapsed();
    }, 250);
  }

  async function logOut() {
    try {
      await api('POST', '/api/logout');
    } catch (e) {
      // going to the login page all the same
    }
    goToLogin();
  }

  async function start() {
    $('settings-form').addEventListener('submit', saveSettings);
    $('pw-form').addEventListener('submit', savePassword);
    $('pw-open').addEventListener('click', showPasswordForm);
    $('pw-cancel').addEventListener('click', hidePasswordForm);
    $('logout').addEventListener('click', logOut);
    ['mode', 'policy', 'tone'].forEach(function (id) {
      $(id).addEventListener('change', updateForm);
    });
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden && mainStarted) {
        if (statusTimer !== null) clearTimeout(statusTimer);
        pollStatus();
        scheduleRecordings(0);
      }
    });

    let res;
    try {
      res = await fetchSession();
    } catch (e) {
      connection('The phone does not answer. Reload the page to try again.');
      return;
    }
    if (res.status !== 200 || !res.data) {
      connection('Could not start: ' + errorOf(res).message);
      return;
    }
    mustChange = res.data.must_change_password === true;
    if (mustChange) {
      showPasswordForm();
    } else {
      show($('pw-open'), true);
      startMain();
    }
  }

  start();
})();
