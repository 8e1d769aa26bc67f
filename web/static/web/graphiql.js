// GraphiQL for /graphql/: the session's CSRF token on every request, the query and
// variables kept in the address bar so a query can be shared as a link.
(function () {
  "use strict";
  var parameters = new URLSearchParams(window.location.search);
  var url = window.location.href.split("?")[0];
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function keep(name, value) {
    if (value) { parameters.set(name, value); } else { parameters.delete(name); }
    var search = parameters.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var fetcher = GraphiQL.createFetcher({ url: url, headers: { "X-CSRFToken": csrf } });

  function App() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      query: parameters.get("query") || undefined,
      variables: parameters.get("variables") || undefined,
      onEditQuery: function (value) { keep("query", value); },
      onEditVariables: function (value) { keep("variables", value); },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(App));
})();
