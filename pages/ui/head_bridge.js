// The Head differences page's bridge (a Streamlit components.v2 module): it installs window.attnflowToggleHead,
// which a tap on a cell of the layer × head heatmaps (plots/heads.py) calls with the cell's index
// k = (layer - 1) · H + head; the index goes back to Python as the trigger value "head", whose callback adds the head
// to (or removes it from) the heads to zero or patch, and shows it below.
export default function (component) {
  const { setTriggerValue } = component;
  const host = (typeof window !== "undefined") ? window : globalThis;
  const send = (cell) => setTriggerValue("head", Number(cell));
  host.attnflowToggleHead = send;
  return () => {
    if (host.attnflowToggleHead === send) { delete host.attnflowToggleHead; }
  };
}
