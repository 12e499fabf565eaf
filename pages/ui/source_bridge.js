// The Attention flow page's bridge (a Streamlit components.v2 module): it installs window.attnflowSetSource, which
// the flow graph's node click (flow_graph.js) calls with the clicked token; the token goes back to Python as the
// trigger value "source", whose callback sets the sidebar's "trace from" and reruns the page.
export default function (component) {
  const { setTriggerValue } = component;
  const host = (typeof window !== "undefined") ? window : globalThis;
  const send = (source) => setTriggerValue("source", Number(source));
  host.attnflowSetSource = send;
  return () => {
    if (host.attnflowSetSource === send) { delete host.attnflowSetSource; }
  };
}
