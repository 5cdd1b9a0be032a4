// Starts GraphiQL against /graphql. The token typed in the bar above the
// editor (or written in the Headers tab) is sent as Authorization: Bearer.
// Nothing is stored: reloading the page forgets the token.
(function () {
  'use strict';
  var placeholder = 'Bearer <paste a token from make run>';
  var headers = JSON.stringify({ Authorization: placeholder }, null, 2);
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var generation = 0;

  // A new key remounts GraphiQL so the new headers take effect; the query
  // survives in GraphiQL's own storage.
  function render(h) {
    generation++;
    root.render(
      React.createElement(GraphiQL, {
        key: generation,
        fetcher: GraphiQL.createFetcher({ url: new URL('/graphql', window.location.href).toString() }),
        headers: h,
        defaultEditorToolsVisibility: 'headers',
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
        defaultQuery: '# Paste a token above, then run:\nquery Viewer {\n  viewer {\n    role\n    organization { name }\n    practitioner { givenName familyName }\n  }\n}\n',
      }),
    );
  }

  document.getElementById('token-bar').addEventListener('submit', function (e) {
    e.preventDefault();
    var t = document.getElementById('token').value.trim().replace(/^Bearer\s+/i, '');
    render(JSON.stringify({ Authorization: t ? 'Bearer ' + t : placeholder }, null, 2));
  });
  render(headers);
})();
