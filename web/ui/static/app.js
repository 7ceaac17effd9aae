// jitaccess: the only script. It shows times in the viewer's time zone
// (and tells the session which that is),
// refreshes live pages in place and stops a form from being sent twice.
// Everything works without it (times then read in the zone the session
// remembers, or UTC).
(function () {
  'use strict';

  // Live pages (<main data-refresh="SECONDS">) fetch themselves again and
  // swap every [data-live] region, unless the person is typing in one.
  // The request says it is a refresh, so that it does not keep an idle
  // session alive.
  // Times come in UTC (<time datetime data-local="full|short|day">, with
  // UTC in the title); show them in the viewer's own time zone.
  var styles = {
    full: { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' },
    short: { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' },
    day: { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
  };
  // The page says which zone the server drew it in (<body data-tz>, the
  // session's). When that is not the browser's, the times are rewritten
  // here and the session is told, so that the next pages come drawn in
  // the browser's zone.
  var zone = '';
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* keep the page's */ }
  var drawnIn = document.body.getAttribute('data-tz') || '';
  var rewrite = zone !== '' && zone !== drawnIn;
  var localize = function (root) {
    if (!rewrite) return;
    root.querySelectorAll('time[data-local]').forEach(function (el) {
      var d = new Date(el.getAttribute('datetime'));
      var style = styles[el.getAttribute('data-local')];
      if (isNaN(d.getTime()) || !style) return;
      try { el.textContent = new Intl.DateTimeFormat(undefined, style).format(d); } catch (e) { /* keep UTC */ }
    });
  };
  localize(document);
  var token = document.querySelector('input[name=csrf_token]');
  if (rewrite && token) {
    var form = new FormData();
    form.append('zone', zone);
    form.append('csrf_token', token.value);
    fetch('/account/time-zone', { method: 'POST', body: new URLSearchParams(form), credentials: 'same-origin' })
      .catch(function () { /* the next page tries again */ });
  }

  var main = document.querySelector('main[data-refresh]');
  if (main) {
    var every = Math.max(5, parseInt(main.getAttribute('data-refresh'), 10) || 20) * 1000;
    // Busy: something in a live region was typed into and not sent yet.
    var busy = function () {
      var fields = document.querySelectorAll('[data-live] textarea, [data-live] input[type=text]');
      for (var i = 0; i < fields.length; i++) {
        if (fields[i].value !== fields[i].defaultValue) return true;
      }
      return false;
    };
    var refresh = function () {
      if (document.hidden || busy()) { schedule(); return; }
      fetch(window.location.href, { headers: { 'X-Jitaccess-Refresh': '1' }, credentials: 'same-origin' })
        .then(function (res) {
          if (res.redirected && new URL(res.url).pathname === '/sign-in') {
            window.location.assign(res.url);
            return null;
          }
          return res.ok ? res.text() : null;
        })
        .then(function (html) {
          if (!html) return;
          var doc = new DOMParser().parseFromString(html, 'text/html');
          document.querySelectorAll('[data-live]').forEach(function (el) {
            var fresh = el.id && doc.getElementById(el.id);
            if (fresh) { el.replaceWith(document.adoptNode(fresh)); localize(fresh); }
          });
        })
        .catch(function () { /* try again next time */ })
        .then(schedule);
    };
    var schedule = function () { window.setTimeout(refresh, every); };
    schedule();
  }

  // One click, one submission.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (form.getAttribute('data-sending')) { e.preventDefault(); return; }
    form.setAttribute('data-sending', '1');
    form.querySelectorAll('button[type=submit]').forEach(function (b) {
      window.setTimeout(function () { b.disabled = true; }, 0);
    });
  });

  // A select that navigates on change (filters): <select data-autosubmit>.
  document.querySelectorAll('select[data-autosubmit]').forEach(function (s) {
    s.addEventListener('change', function () { if (s.form) s.form.submit(); });
  });
})();
