// Setting changes replace the browser history entry instead of pushing one (issue 12, Back button).
// Streamlit pushes a history entry whenever the server changes the query string (st.query_params); the app mirrors
// every widget into the URL, so each slider move added an entry that Back "restored" to the same view. Entries
// that change the page (the path) are still pushed, so Back walks the pages the person visited.
(function () {
  const w = window.parent && window.parent !== window ? window.parent : window;
  if (w.__attnflowHistoryPatched) {
    return;
  }
  w.__attnflowHistoryPatched = true;
  const history = w.history;
  const push = history.pushState.bind(history);
  const replace = history.replaceState.bind(history);
  history.pushState = function (state, title, url) {
    try {
      const next = new URL(url, w.location.href);
      if (next.pathname === w.location.pathname) {
        return replace(state, title, url);
      }
    } catch (err) {
      // an unusual URL: fall back to the browser's own behaviour
    }
    return push(state, title, url);
  };
})();
