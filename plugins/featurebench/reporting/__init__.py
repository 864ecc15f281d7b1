"""The benchmark report: Markdown, HTML and PNG plots of a comparison (`report`)."""
