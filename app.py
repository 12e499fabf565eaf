"""Attention Flows — entry point: ``streamlit run app.py``.

Lists the pages explicitly (``st.navigation`` turns off automatic discovery of ``pages/``); each page draws the
shared sidebar itself through ``pages/common.py``.
"""

import streamlit as st

st.set_page_config(page_title="Attention Flows", page_icon="🔀", layout="wide")

from pages import common  # noqa: E402  (set_page_config must come first)

PAGES = [
    st.Page("pages/examples.py", title="Examples", icon="📚", default=True),
    st.Page("pages/flow.py", title="Attention flow", icon="🔀"),
    st.Page("pages/heads.py", title="Head differences", icon="🧠"),
    st.Page("pages/overview.py", title="Dataset overview", icon="📊"),
    st.Page("pages/about.py", title="About", icon="ℹ️"),
]

navigation = st.navigation(PAGES)
common.init_state()
navigation.run()
