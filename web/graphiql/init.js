// The GraphQL playground: GraphiQL on /graphql, signed in as the dashboard's session
// (the same JWT the REST API takes). Without a session, sign in on the dashboard
// first, or put an `Authorization: Bearer …` header in the Headers tab.
(function () {
  var token = null;
  try {
    var raw = localStorage.getItem('torrentedge.session');
    token = raw ? JSON.parse(raw).accessToken : null;
  } catch (e) {
    token = null;
  }
  var headers = token ? { Authorization: 'Bearer ' + token } : {};
  var fetcher = GraphiQL.createFetcher({ url: '/graphql', headers: headers });
  var defaultQuery =
    '# Signed in ' + (token ? 'with the dashboard\'s session.' : 'as nobody: sign in on the dashboard first.') + '\n' +
    '{\n  me { id username role }\n  statistics { totalTorrents activeCount downloadSpeed uploadSpeed }\n' +
    '  torrents { infoHash name state percentage }\n}\n';
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: defaultQuery,
    defaultHeaders: JSON.stringify(headers, null, 2),
  }));
})();
