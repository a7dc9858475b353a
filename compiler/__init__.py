"""AST -> checked, versioned IR; diagnostics; graph export."""
