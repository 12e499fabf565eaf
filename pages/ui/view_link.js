// The link between a page and its interactive view (after view_common.js), mounted inside an st.fragment. It
// installs window.attnflowReport(kind, id, settings, urgent), which the view calls after each redraw: the settings
// go back to Python (debounced; at once when `urgent`, e.g. max-flow needs a solution), which reruns only the
// fragment (state, URL, exports, max-flow). Its data is what the server wants shown: {kind, id, settings, maxflow,
// fresh}; `fresh` is false when the settings are only the echo of what the view reported.
const DEBOUNCE_MS = 250;

export default function (component) {
  const { data, setStateValue } = component;
  const kind = data.kind;
  const timers = (W.attnflowReportTimers = W.attnflowReportTimers || {});
  W.attnflowReport = (k, id, settings, urgent) => {
    clearTimeout(timers[k]);
    const send = () => setStateValue("settings", { ...settings, kind: k, id });
    if (urgent) send();
    else timers[k] = setTimeout(send, DEBOUNCE_MS);
  };
  WANTED[kind] = data;
  deliver(kind, false);
}
