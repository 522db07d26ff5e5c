"""docqa's web UI: a Gradio chat over the documents, each answer shown with its evidence.

    python -m ui                      # the bundled article, at http://127.0.0.1:7860
    python -m ui --docs notes.md docs/ --port 8000

``ui.render`` formats replies as escaped HTML (pure functions); ``ui.app``
builds the ``gr.Blocks`` from a loaded ``qa.QA``; ``ui.__main__`` parses the
arguments and serves it. Nothing imports ``ui``.
"""
