"""What the pages share (none of these modules is a page; ``app.py`` lists the pages):

- ``boundary``: the one error idiom of the pages (``friendly``) and showing untrusted text literally (``md_escape``);
- ``state``: typed accessors over ``st.session_state`` and the URL mirror (the schema is ``urlstate.URL_PARAMS``);
- ``loaders``: the cached loaders, one per pipeline stage, each keyed by exactly what it depends on;
- ``sidebar`` and ``controls``: the shared sidebar (task, pair, example; the flow settings);
- ``header``: the chosen example's header; ``bokeh_host``: rendering Bokeh and the page's browser bridges;
- ``panels``: "does the change matter?" panels (interventions, saliency, importance) of several pages.
"""
