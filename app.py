"""Attention Flows — entry point: ``streamlit run app.py``.

Lists the pages explicitly (``st.navigation`` turns off automatic discovery of ``pages/``); each page draws the
shared sidebar itself through ``pages/ui`` (``page.page_setup``).
"""

import streamlit as st

st.set_page_config(page_title="Attention Flows", page_icon="🔀", layout="wide")

PAGES = [
    st.Page("pages/examples.py", title="Examples", icon=":material/table_rows:", default=True),
    st.Page("pages/flow.py", title="Attention flow", icon=":material/account_tree:"),
    st.Page("pages/heads.py", title="Head differences", icon=":material/grid_view:"),
    st.Page("pages/overview.py", title="Dataset overview", icon=":material/monitoring:"),
    st.Page("pages/trajectory.py", title="Fine-tuning trajectory", icon=":material/timeline:"),
    st.Page("pages/about.py", title="About", icon=":material/info:"),
]

navigation = st.navigation(PAGES)
from pages.ui import loading  # noqa: E402 - after the page config; light (no models, no torch)

loading.begin(navigation.title)  # a session's first run: the title and what is loading, at once
try:
    navigation.run()
except Exception as err:  # noqa: BLE001 - the last page boundary: a bug is an apology plus a log line
    from pages.ui.boundary import apologise

    apologise(err)
finally:
    loading.end()
