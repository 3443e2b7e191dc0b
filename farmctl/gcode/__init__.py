"""G-code analysis: metadata, farmctl's own time estimate, validation (issue: G-code analysis)."""
