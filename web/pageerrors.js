// Every page keeps the script errors it meets on <body data-errors> (a JSON list, newest 50):
// uncaught errors, resources that failed to load, unhandled rejections and CSP violations. The
// browser tests read it, and so can a user in the inspector. One recorder for every page.
export function recordPageErrors(body) {
  const errors = [];
  function recordError(msg) {
    errors.push(String(msg).slice(0, 300));
    if (errors.length > 50) errors.shift();
    body.dataset.errors = JSON.stringify(errors);
  }
  window.addEventListener('error', (e) => {
    if (e.target && e.target !== window && (e.target.src || e.target.href)) {
      recordError('failed to load ' + (e.target.src || e.target.href));
    } else {
      recordError((e.message || 'error') + (e.filename ? ' at ' + e.filename + ':' + e.lineno : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', (e) => {
    const r = e.reason;
    recordError('unhandled rejection: ' + (r && r.message ? r.message : String(r)));
  });
  document.addEventListener('securitypolicyviolation', (e) => {
    recordError('CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || ''));
  });
  return recordError;
}
