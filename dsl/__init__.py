"""Surface syntaxes: YAML (`.flow.yaml`) and the `.flow` DSL, both parsed into one AST."""
