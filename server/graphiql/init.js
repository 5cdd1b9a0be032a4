// Starts GraphiQL against /graphql. The token typed in the bar above the
// editor (or written in the Headers tab) is sent as Authorization: Bearer on
// HTTP, and in connection_init on the WebSocket that carries subscriptions
// (graphql-transport-ws, on the same /graphql path; GraphiQL's bundled
// graphql-ws client). Nothing is stored: reloading the page forgets the token.
//
// Until a token is given, no Authorization header is sent and the schema is
// not fetched (every request without a token is refused), so the page asks
// for a token instead of showing "invalid or expired token".
(function () {
  'use strict';
  var httpURL = new URL('/graphql', window.location.href);
  var wsURL = new URL('/graphql', window.location.href);
  wsURL.protocol = httpURL.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({ url: httpURL.toString(), subscriptionUrl: wsURL.toString() });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var generation = 0;
  var query = '# Paste a token in the bar above (make run and make tokens print them),\n' +
    '# press "Use token", then run this, or open the Docs (book icon) to explore.\n' +
    'query Viewer {\n  viewer {\n    role\n    organization { name }\n    practitioner { givenName familyName }\n  }\n}\n\n' +
    '# Subscriptions run over WebSocket with the same token:\n' +
    '# subscription Live { syncChanges(protocolVersion: 1) { changesWaiting } }\n';

  // A new key remounts GraphiQL so the new headers take effect; the query
  // survives in GraphiQL's own storage.
  function render(token) {
    generation++;
    var props = {
      key: generation,
      fetcher: fetcher,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultQuery: query,
    };
    if (token) {
      props.headers = JSON.stringify({ Authorization: 'Bearer ' + token }, null, 2);
    } else {
      props.headers = '{}';
      props.schema = null; // no introspection without a token
    }
    root.render(React.createElement(GraphiQL, props));
    document.getElementById('token-status').textContent = token
      ? 'Token in use: it is sent with every request and subscription.'
      : 'No token yet: paste one to load the schema and run queries.';
  }

  document.getElementById('token-bar').addEventListener('submit', function (e) {
    e.preventDefault();
    render(document.getElementById('token').value.trim().replace(/^Bearer\s+/i, ''));
  });
  render('');
})();
