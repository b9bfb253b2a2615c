"""Reports for people: terminal and Markdown tables, CSV, PNG plots."""
