// The login page: POST /api/login, then on to the settings page.
'use strict';

(function () {
  const form = document.getElementById('login-form');
  const user = document.getElementById('user');
  const password = document.getElementById('password');
  const button = document.getElementById('login');
  const error = document.getElementById('login-error');
  let waitTimer = null;

  function showError(text) {
    error.textContent = text;
  }

  // After too many failures the agent makes every login wait; count the wait down on the page.
  function waitBeforeRetry(seconds) {
    let left = Math.max(1, Math.ceil(seconds));
    button.disabled = true;
    const tick = function () {
      if (left <= 0) {
        clearInterval(waitTimer);
        waitTimer = null;
        button.disabled = false;
        showError('You can try again now.');
        return;
      }
      showError('Too many failed attempts. Wait ' + left + ' s before trying again.');
      left -= 1;
    };
    if (waitTimer !== null) clearInterval(waitTimer);
    tick();
    waitTimer = setInterval(tick, 1000);
  }

  async function readError(res) {
    try {
      const data = await res.json();
      if (data && data.error) return data.error;
    } catch (e) {
      // not JSON: fall through
    }
    return { code: '', message: 'HTTP ' + res.status };
  }

  async function logIn(event) {
    event.preventDefault();
    if (waitTimer !== null) return;
    if (user.value.trim() === '' || password.value === '') {
      showError('Enter the user name and the password.');
      (user.value.trim() === '' ? user : password).focus();
      return;
    }
    showError('');
    button.disabled = true;
    let res;
    try {
      res = await fetch('/api/login', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: user.value.trim(), password: password.value }),
      });
    } catch (e) {
      button.disabled = false;
      showError('The phone does not answer. Check the connection and try again.');
      return;
    }
    if (res.ok) {
      window.location.replace('/');
      return;
    }
    const err = await readError(res);
    if (res.status === 429 || err.code === 'slow_down') {
      const header = parseInt(res.headers.get('Retry-After') || '', 10);
      waitBeforeRetry(Number.isFinite(header) ? header : 1);
      return;
    }
    button.disabled = false;
    if (res.status === 401 || err.code === 'bad_login') {
      showError('Wrong user name or password.');
      password.value = '';
      password.focus();
    } else {
      showError('Could not log in: ' + (err.message || 'HTTP ' + res.status));
    }
  }

  // Already logged in (a reload, the back button): go straight to the settings.
  async function checkSession() {
    try {
      const res = await fetch('/api/session', { credentials: 'same-origin' });
      if (res.ok) window.location.replace('/');
    } catch (e) {
      // stay on the login page
    }
  }

  form.addEventListener('submit', logIn);
  if (user.value !== '') password.focus(); else user.focus();
  checkSession();
})();
